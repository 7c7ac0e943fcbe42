-- Roles and the token lifecycle: researcher tokens, names, expiry, who created a token; and the
-- append-only audit log of every call.

ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
  CHECK (role IN ('operator', 'uploader', 'researcher'));
ALTER TABLE tokens ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE tokens ADD COLUMN created_by bigint REFERENCES tokens(id);

-- Who (token, role, centre as they were at the call), what (the RPC and object ids, never PHI),
-- when, outcome (a gRPC status code name) and the peer address. Rows are only ever inserted.
CREATE TABLE audit_log (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL,
  token_id   bigint REFERENCES tokens(id),
  role       text NOT NULL DEFAULT '',
  centre_id  bigint REFERENCES centres(id),
  rpc        text NOT NULL,
  object     text NOT NULL DEFAULT '',
  outcome    text NOT NULL,
  peer       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_token ON audit_log (token_id, at);

-- The service connects as the table's owner (with the embedded cluster, as the cluster owner), for
-- whom REVOKE changes nothing: a trigger refuses every UPDATE, DELETE and TRUNCATE instead.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
