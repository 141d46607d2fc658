-- Virtual-key leftovers (issue #26): LiteLLM's per-model budgets on a key (`model_max_budget`,
-- `{"<model>": {"budget_limit": 1.0, "time_period": "1d"}}`), the spend of each key on each
-- budgeted model in its current period, and the key's tags on each spend-log row (LiteLLM's
-- `request_tags`). Key tags themselves live in `metadata.tags`, where LiteLLM keeps them.

ALTER TABLE shale_keys ADD COLUMN model_max_budget JSONB NOT NULL DEFAULT '{}'::jsonb;

-- One row per key and budgeted model: the spend of the period ending at `period_end`. Follows the
-- key when `/key/regenerate` renames its token, and goes with it when it is deleted.
CREATE TABLE shale_key_model_spend (
    token      TEXT NOT NULL REFERENCES shale_keys (token) ON UPDATE CASCADE ON DELETE CASCADE,
    model      TEXT NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    spend      DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (token, model)
);

ALTER TABLE shale_spend_logs ADD COLUMN request_tags JSONB NOT NULL DEFAULT '[]'::jsonb;
