-- Harmonization: content-addressed recipes and models, operators' recipe assignments, the job
-- queue, and derivations (the harmonization activity, what it used and what it generated).

-- A recipe (PROV plan), keyed by the SHA-256 hex of its canonical JSON text, kept byte for byte.
CREATE TABLE recipes (
  sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  name        text NOT NULL,
  version     text NOT NULL,
  json        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- A trained model (e.g. Nyul landmarks; PROV entity) for one recipe, keyed by the SHA-256 hex of
-- its JSON text.
CREATE TABLE models (
  sha256         text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  method         text NOT NULL,
  json           text NOT NULL,
  recipe_sha256  text NOT NULL REFERENCES recipes(sha256),
  added_by       bigint REFERENCES tokens(id),
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- The series a model was trained on (PROV used).
CREATE TABLE model_training_series (
  model_sha256  text NOT NULL REFERENCES models(sha256),
  series_id     bigint NOT NULL REFERENCES series(id),
  PRIMARY KEY (model_sha256, series_id)
);

-- An operator's choice of recipes for a centre's series of one modality; a row without centre is
-- the default for the modality, used for centres that have no row of their own for it.
CREATE TABLE centre_recipes (
  centre_id      bigint REFERENCES centres(id),
  modality       text NOT NULL,
  recipe_sha256  text NOT NULL REFERENCES recipes(sha256),
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX centre_recipes_assigned ON centre_recipes (centre_id, modality, recipe_sha256)
  WHERE centre_id IS NOT NULL;
CREATE UNIQUE INDEX centre_recipes_default ON centre_recipes (modality, recipe_sha256)
  WHERE centre_id IS NULL;

-- The queue: one job per (series, recipe, model). Claimed with FOR UPDATE SKIP LOCKED; a running
-- job belongs to lease_owner until lease_expires_at, after which another worker may take it over.
CREATE TABLE jobs (
  id                bigserial PRIMARY KEY,
  series_id         bigint NOT NULL REFERENCES series(id),
  recipe_sha256     text NOT NULL REFERENCES recipes(sha256),
  model_sha256      text REFERENCES models(sha256),
  state             text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed')),
  attempts          integer NOT NULL DEFAULT 0,
  max_attempts      integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  lease_owner       text,
  lease_expires_at  timestamptz,
  last_error        text NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  finished_at       timestamptz,
  CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE UNIQUE INDEX jobs_identity ON jobs (series_id, recipe_sha256, (coalesce(model_sha256, '')));
CREATE INDEX jobs_due ON jobs (next_attempt_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_state ON jobs (state, id);

-- One harmonization of a series (PROV activity), unique per (series, recipe, model): a job that
-- runs twice records one derivation. job_id is cleared if finished jobs are ever pruned.
CREATE TABLE derivations (
  id                 bigserial PRIMARY KEY,
  job_id             bigint REFERENCES jobs(id) ON DELETE SET NULL,
  series_id          bigint NOT NULL REFERENCES series(id),
  recipe_sha256      text NOT NULL REFERENCES recipes(sha256),
  model_sha256       text REFERENCES models(sha256),
  qc_metrics         jsonb NOT NULL DEFAULT '{}',
  software_versions  jsonb NOT NULL DEFAULT '{}',
  timings            jsonb NOT NULL DEFAULT '{}',
  worker             text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX derivations_identity
  ON derivations (series_id, recipe_sha256, (coalesce(model_sha256, '')));

-- The de-identified instances a derivation read (PROV used), by blob.
CREATE TABLE derivation_inputs (
  derivation_id  bigint NOT NULL REFERENCES derivations(id) ON DELETE CASCADE,
  blob_sha256    text NOT NULL REFERENCES blobs(sha256),
  PRIMARY KEY (derivation_id, blob_sha256)
);

-- The files a derivation wrote to the blob store (PROV wasGeneratedBy): role (nifti, sidecar,
-- bval, bvec, qc_png, ...), a file name, the blob (whose size is in blobs).
CREATE TABLE derivation_outputs (
  derivation_id  bigint NOT NULL REFERENCES derivations(id) ON DELETE CASCADE,
  role           text NOT NULL,
  name           text NOT NULL DEFAULT '',
  blob_sha256    text NOT NULL REFERENCES blobs(sha256),
  PRIMARY KEY (derivation_id, role, blob_sha256)
);
CREATE INDEX derivation_outputs_blob ON derivation_outputs (blob_sha256);
