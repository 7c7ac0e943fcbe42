-- The de-identification key's fingerprint, HMAC-SHA-256(key, 'tributary key fingerprint v1') in
-- hexadecimal, never the key: recorded on a server's first start; a server given another key refuses
-- to start (pseudonyms and UIDs would silently change). One row.
CREATE TABLE key_fingerprint (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Every deliberate change of key (tributary-server --rotate-key-fingerprint): instances
-- de-identified before rotated_at were keyed with old_fingerprint's key.
CREATE TABLE key_rotations (
  id bigserial PRIMARY KEY,
  old_fingerprint text NOT NULL,
  new_fingerprint text NOT NULL,
  rotated_at timestamptz NOT NULL DEFAULT now()
);
