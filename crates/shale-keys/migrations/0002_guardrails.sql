-- Gateway guardrails (issue #29): the guardrails a key or a team always runs (names of the
-- config's `guardrails:` entries), and which guardrails ran for each request with their outcome
-- (`[{"guardrail_name","guardrail_mode","guardrail_status","duration_ms"}]`; never any text).

ALTER TABLE shale_keys ADD COLUMN guardrails TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE shale_teams ADD COLUMN guardrails TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE shale_spend_logs ADD COLUMN guardrail_information JSONB NOT NULL DEFAULT '[]'::jsonb;
