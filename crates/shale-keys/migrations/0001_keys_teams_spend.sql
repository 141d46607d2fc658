-- shale virtual keys (issue #15): teams, keys and per-request spend logs.
-- Keys are stored only as SHA-256 hex (`token`); no clear key and no prompt text is ever stored.

CREATE TABLE shale_teams (
    team_id               TEXT PRIMARY KEY,
    team_alias            TEXT,
    models                TEXT[] NOT NULL DEFAULT '{}',
    max_budget            DOUBLE PRECISION,
    spend                 DOUBLE PRECISION NOT NULL DEFAULT 0,
    budget_duration       TEXT,
    budget_reset_at       TIMESTAMPTZ,
    rpm_limit             BIGINT,
    tpm_limit             BIGINT,
    max_parallel_requests BIGINT,
    metadata              JSONB NOT NULL DEFAULT '{}'::jsonb,
    blocked               BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE shale_keys (
    token                 TEXT PRIMARY KEY CHECK (token ~ '^[0-9a-f]{64}$'),
    key_name              TEXT NOT NULL,
    key_alias             TEXT UNIQUE,
    models                TEXT[] NOT NULL DEFAULT '{}',
    max_budget            DOUBLE PRECISION,
    spend                 DOUBLE PRECISION NOT NULL DEFAULT 0,
    budget_duration       TEXT,
    budget_reset_at       TIMESTAMPTZ,
    rpm_limit             BIGINT,
    tpm_limit             BIGINT,
    max_parallel_requests BIGINT,
    expires               TIMESTAMPTZ,
    blocked               BOOLEAN NOT NULL DEFAULT FALSE,
    team_id               TEXT REFERENCES shale_teams (team_id),
    user_id               TEXT,
    metadata              JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX shale_keys_team_id ON shale_keys (team_id);
CREATE INDEX shale_keys_user_id ON shale_keys (user_id);

CREATE TABLE shale_spend_logs (
    id                          BIGSERIAL PRIMARY KEY,
    request_id                  TEXT NOT NULL,
    api_key                     TEXT NOT NULL,
    key_alias                   TEXT,
    team_id                     TEXT,
    user_id                     TEXT,
    model                       TEXT NOT NULL,
    model_id                    TEXT NOT NULL,
    call_type                   TEXT NOT NULL,
    prompt_tokens               BIGINT NOT NULL DEFAULT 0,
    completion_tokens           BIGINT NOT NULL DEFAULT 0,
    cache_read_input_tokens     BIGINT NOT NULL DEFAULT 0,
    cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
    spend                       DOUBLE PRECISION NOT NULL DEFAULT 0,
    start_time                  TIMESTAMPTZ NOT NULL,
    end_time                    TIMESTAMPTZ NOT NULL,
    status_code                 INTEGER NOT NULL
);
CREATE INDEX shale_spend_logs_key_time ON shale_spend_logs (api_key, start_time);
CREATE INDEX shale_spend_logs_time ON shale_spend_logs (start_time);
CREATE INDEX shale_spend_logs_request ON shale_spend_logs (request_id);
CREATE INDEX shale_spend_logs_team_time ON shale_spend_logs (team_id, start_time);
