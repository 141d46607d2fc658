-- The response cache (issue #30): which cache controls a key may send (LiteLLM's
-- `allowed_cache_controls`; empty = all), and whether a spend-log row was answered from the cache
-- (LiteLLM's `cache_hit` / `cache_key` columns).

ALTER TABLE shale_keys ADD COLUMN allowed_cache_controls TEXT[] NOT NULL DEFAULT '{}';

ALTER TABLE shale_spend_logs ADD COLUMN cache_hit BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE shale_spend_logs ADD COLUMN cache_key TEXT;
