-- Per-centre de-identification policy, set by operators (tributary centres policy). A centre whose
-- pixels are known to be cleaned of identifying text may have instances marked
-- BurnedInAnnotation = YES accepted; every other centre's are refused. Off for every centre,
-- existing ones included (the server's former --allow-burned-in-annotation switch is gone).
ALTER TABLE centres
  ADD COLUMN accept_burned_in_annotation boolean NOT NULL DEFAULT false,
  ADD COLUMN policy_changed_at timestamptz;
