-- shale models in Postgres (issue #31), in their own schema `shale_models` (the pool's
-- search_path), so their migrations never mix with the virtual keys' in `public`.
-- Secret values in litellm_params are stored sealed ("enc:v1:..."), never in clear.

CREATE TABLE deployments (
    model_id       TEXT PRIMARY KEY CHECK (length(model_id) BETWEEN 1 AND 200),
    model_name     TEXT NOT NULL CHECK (length(model_name) > 0),
    litellm_params JSONB NOT NULL,
    model_info     JSONB NOT NULL DEFAULT '{}'::jsonb,
    seq            BIGSERIAL NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row: bumped in the same transaction as every write, so a replica finds out that the
-- table changed with one tiny query (deletes included).
CREATE TABLE table_version (
    id      INT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO table_version (id, version) VALUES (1, 0);
