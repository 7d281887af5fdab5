-- Recordings name the SIP Call-ID of the call they were made of (issue #6), SQLite dialect.
--
-- recordings.call_id is a calls.id, and a calls row (the CDR) is written when the call ends,
-- or not at all for calls Switchboard terminates itself (the echo extension). The SIP
-- Call-ID is what an operator and the HTTP API know a live call by, so the row keeps it too
-- (NULL for rows written before this migration).
ALTER TABLE recordings ADD COLUMN sip_call_id text;
CREATE INDEX recordings_sip_call_id ON recordings (sip_call_id);
