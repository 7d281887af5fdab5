-- How each endpoint and trunk wants DTMF sent to it (issue #6), SQLite dialect.
--
-- rfc4733: RTP telephone-events (in-band tones when the leg negotiates none); info: SIP INFO
-- (application/dtmf-relay); inband: tones in the audio, which is then also searched for
-- tones. The call engine renders each digit in the form the receiving leg's row names.
ALTER TABLE endpoints ADD COLUMN dtmf_mode text NOT NULL DEFAULT 'rfc4733'
    CHECK (dtmf_mode IN ('rfc4733', 'info', 'inband'));
ALTER TABLE trunks ADD COLUMN dtmf_mode text NOT NULL DEFAULT 'rfc4733'
    CHECK (dtmf_mode IN ('rfc4733', 'info', 'inband'));
