-- Research cohorts: what a derivation's series says about its subject (for queries), and immutable
-- cohort snapshots with the files of their export tree.

-- PatientSex, PatientAgeYears, StudyDate (shifted), BodyPartExamined of the series, read by the
-- worker from the stored (de-identified) instances; {} for derivations recorded before.
ALTER TABLE derivations ADD COLUMN subject jsonb NOT NULL DEFAULT '{}';

-- A snapshot (PROV entity): the query as given, who made it, and what it froze.
CREATE TABLE cohorts (
  id                  bigserial PRIMARY KEY,
  name                text NOT NULL,
  query               jsonb NOT NULL,
  created_by_token_id bigint REFERENCES tokens(id),
  created_at          timestamptz NOT NULL DEFAULT now()
);

-- The harmonized volumes a cohort froze: one volume (stem) of one derivation each, with the
-- subject and session labels of the export tree.
CREATE TABLE cohort_volumes (
  cohort_id      bigint NOT NULL REFERENCES cohorts(id),
  derivation_id  bigint NOT NULL REFERENCES derivations(id),
  stem           text NOT NULL,
  PRIMARY KEY (cohort_id, derivation_id, stem)
);

-- Every file of the cohort's export tree, by blob: derived files under their BIDS names, and the
-- documents written when the cohort was made (dataset_description.json, participants.tsv, ...,
-- provenance.json, manifest.sha256).
CREATE TABLE cohort_files (
  cohort_id    bigint NOT NULL REFERENCES cohorts(id),
  path         text NOT NULL,
  blob_sha256  text NOT NULL REFERENCES blobs(sha256),
  PRIMARY KEY (cohort_id, path)
);

-- Snapshots never change: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION cohorts_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is immutable: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER cohorts_no_change BEFORE UPDATE OR DELETE ON cohorts
  FOR EACH ROW EXECUTE FUNCTION cohorts_immutable();
CREATE TRIGGER cohort_volumes_no_change BEFORE UPDATE OR DELETE ON cohort_volumes
  FOR EACH ROW EXECUTE FUNCTION cohorts_immutable();
CREATE TRIGGER cohort_files_no_change BEFORE UPDATE OR DELETE ON cohort_files
  FOR EACH ROW EXECUTE FUNCTION cohorts_immutable();
CREATE TRIGGER cohorts_no_truncate BEFORE TRUNCATE ON cohorts
  FOR EACH STATEMENT EXECUTE FUNCTION cohorts_immutable();
CREATE TRIGGER cohort_volumes_no_truncate BEFORE TRUNCATE ON cohort_volumes
  FOR EACH STATEMENT EXECUTE FUNCTION cohorts_immutable();
CREATE TRIGGER cohort_files_no_truncate BEFORE TRUNCATE ON cohort_files
  FOR EACH STATEMENT EXECUTE FUNCTION cohorts_immutable();

-- Lineage looks instances up by series and by blob.
CREATE INDEX instances_series ON instances (series_id);
CREATE INDEX instances_blob ON instances (blob_sha256);
