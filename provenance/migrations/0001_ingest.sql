-- Ingest: centres and tokens, uploads, the de-identified patient/study/series/instance hierarchy,
-- content-addressed blobs, de-identification methods, and a receipt for every file received.

CREATE TABLE centres (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Tokens are stored as SHA-256 hex of the token; an operator token has no centre.
CREATE TABLE tokens (
  id            bigserial PRIMARY KEY,
  token_sha256  text NOT NULL UNIQUE,
  role          text NOT NULL CHECK (role IN ('operator', 'uploader')),
  centre_id     bigint REFERENCES centres(id),
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  CHECK ((role = 'uploader') = (centre_id IS NOT NULL))
);

-- One upload stream (PROV activity); a retried stream with the same request id continues it.
CREATE TABLE uploads (
  id            bigserial PRIMARY KEY,
  centre_id     bigint NOT NULL REFERENCES centres(id),
  token_id      bigint NOT NULL REFERENCES tokens(id),
  request_id    text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (centre_id, request_id)
);

CREATE TABLE patients (
  id          bigserial PRIMARY KEY,
  centre_id   bigint NOT NULL REFERENCES centres(id),
  pseudonym   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (centre_id, pseudonym)
);

CREATE TABLE studies (
  id                       bigserial PRIMARY KEY,
  patient_id               bigint NOT NULL REFERENCES patients(id),
  study_uid                text NOT NULL UNIQUE,
  first_received_at        timestamptz NOT NULL DEFAULT now(),
  last_received_at         timestamptz NOT NULL DEFAULT now(),
  completed_at             timestamptz,
  expected_instance_count  integer
);
CREATE INDEX studies_quiet ON studies (last_received_at) WHERE completed_at IS NULL;

CREATE TABLE series (
  id          bigserial PRIMARY KEY,
  study_id    bigint NOT NULL REFERENCES studies(id),
  series_uid  text NOT NULL UNIQUE,
  modality    text NOT NULL DEFAULT ''
);

-- De-identified bytes in the blob store: sha256/ab/cd/<sha256>.
CREATE TABLE blobs (
  sha256      text PRIMARY KEY,
  size        bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- The de-identification plan applied (PROV plan): profile edition, options, software version.
CREATE TABLE deid_methods (
  id                bigserial PRIMARY KEY,
  profile_edition   text NOT NULL,
  options           text NOT NULL,
  software_version  text NOT NULL,
  UNIQUE (profile_edition, options, software_version)
);

-- A de-identified instance (PROV entity), derived from an original file known only by its keyed
-- digest HMAC-SHA-256(key, SHA-256 of the original bytes).
CREATE TABLE instances (
  id                   bigserial PRIMARY KEY,
  series_id            bigint NOT NULL REFERENCES series(id),
  centre_id            bigint NOT NULL REFERENCES centres(id),
  sop_instance_uid     text NOT NULL UNIQUE,
  sop_class_uid        text NOT NULL,
  transfer_syntax_uid  text NOT NULL,
  blob_sha256          text NOT NULL REFERENCES blobs(sha256),
  original_digest      text NOT NULL,
  upload_id            bigint NOT NULL REFERENCES uploads(id),
  deid_method_id       bigint NOT NULL REFERENCES deid_methods(id),
  date_shift_days      integer NOT NULL,
  deidentified_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (centre_id, original_digest)
);

-- Every file received and what became of it; rejections keep no PHI (digest, reason, time).
CREATE TABLE receipts (
  id               bigserial PRIMARY KEY,
  upload_id        bigint NOT NULL REFERENCES uploads(id),
  original_digest  text NOT NULL,
  outcome          text NOT NULL CHECK (outcome IN ('STORED', 'ALREADY_STORED', 'CONFLICT', 'REJECTED')),
  reason_code      text NOT NULL DEFAULT '',
  detail           text NOT NULL DEFAULT '',
  instance_id      bigint REFERENCES instances(id),
  received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX receipts_upload ON receipts (upload_id);
