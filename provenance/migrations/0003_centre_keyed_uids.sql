-- Centre-keyed UIDs (issue 10 A). From this version Study, Series, SOP Instance and every other
-- remapped UID derives from (centre, original UID), so two centres that send the same original
-- never share a UID. Rows written before keep their centre-independent UIDs and stay as they are.
--
-- original_fingerprint is HMAC-SHA-256(key, "instance:" + original SOP Instance UID) in hex,
-- without the centre: equal when two centres sent the same original instance. It is for operators
-- (cross-centre duplicates) and is never returned to uploaders. Earlier rows cannot be backfilled
-- (the original UID was never stored), so the column is nullable and NULL there.
ALTER TABLE instances ADD COLUMN original_fingerprint text
  CHECK (original_fingerprint ~ '^[0-9a-f]{64}$');
CREATE INDEX instances_original_fingerprint ON instances (original_fingerprint, centre_id)
  WHERE original_fingerprint IS NOT NULL;

-- Which UID rule wrote an instance: 1 = centre-independent (before this version), 2 = keyed by
-- centre. Existing rows are 1; new rows say 2.
ALTER TABLE instances ADD COLUMN uid_scheme smallint NOT NULL DEFAULT 1 CHECK (uid_scheme IN (1, 2));
ALTER TABLE instances ALTER COLUMN uid_scheme SET DEFAULT 2;
