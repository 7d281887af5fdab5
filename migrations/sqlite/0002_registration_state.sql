-- Registrar bindings that survive a restart (issue #5), SQLite dialect: the same change as
-- migrations/postgres/0002.
--
-- A binding is written by the registrar when a REGISTER adds or refreshes it, when its
-- reachability changes and when it is removed; at start the live ones are loaded back.
-- created_at / updated_at stay row bookkeeping (first inserted, last written); the binding's
-- own times are the registrar's: registered_at, refreshed_at, last_seen_at.
--
-- SQLite's ALTER TABLE cannot add a NOT NULL column without a constant default, so the table
-- is rebuilt (the SQLite manual's "other kinds of table schema changes"): new columns last, as
-- ALTER TABLE ADD COLUMN puts them in PostgreSQL. Nothing references registrations.
-- The store writes this table's timestamps as RFC 3339 UTC with exactly six fractional digits,
-- so comparing the text compares the times (expiry queries use the index).

CREATE TABLE registrations_0002 (
    id             INTEGER PRIMARY KEY,
    endpoint_id    TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    aor            text NOT NULL,
    contact_uri    text NOT NULL,
    source_address text NOT NULL,
    source_port    integer NOT NULL CHECK (source_port BETWEEN 0 AND 65535),
    transport      text NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls', 'ws', 'wss')),
    user_agent     text,
    -- q-value times 1000 (0..1000), exact; NULL when the Contact had no q.
    q_milli        integer CHECK (q_milli BETWEEN 0 AND 1000),
    call_id        text NOT NULL,
    cseq           bigint NOT NULL CHECK (cseq >= 0),
    -- Path header values (RFC 3327) as a JSON array of URIs, in order.
    path           TEXT CHECK (path IS NULL OR json_valid(path)),
    instance_id    text,      -- +sip.instance (RFC 5626)
    reg_id         integer,   -- reg-id (RFC 5626)
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    -- Our socket ("ip:port", IPv6 in brackets) the binding's flow arrived at, so requests to
    -- the contact leave from the same socket (RFC 3581 symmetric response, NAT bindings,
    -- RFC 5626 flows). NULL only for a binding stored before this column existed: the
    -- registrar does not load such a row (it cannot know the flow) and the phone's next
    -- REGISTER replaces it.
    local_address  text,
    -- Whether the contact answers: 'unknown' until qualified (OPTIONS, keep-alive), then
    -- 'reachable' or 'unreachable'.
    reachability   text NOT NULL DEFAULT 'unknown'
                   CHECK (reachability IN ('unknown', 'reachable', 'unreachable')),
    -- When the binding was first registered (kept across refreshes; a new binding after
    -- removal or expiry starts again). Existing rows: when the row was created.
    registered_at  TEXT NOT NULL,
    -- When a REGISTER last refreshed it. Existing rows: when the row was last written.
    refreshed_at   TEXT NOT NULL,
    -- When anything last arrived from the contact (REGISTER, qualify answer, keep-alive).
    -- Existing rows: when the row was last written.
    last_seen_at   TEXT NOT NULL,
    UNIQUE (aor, contact_uri)
);

INSERT INTO registrations_0002 (id, endpoint_id, aor, contact_uri, source_address, source_port,
    transport, user_agent, q_milli, call_id, cseq, path, instance_id, reg_id, expires_at,
    created_at, updated_at, local_address, reachability, registered_at, refreshed_at,
    last_seen_at)
SELECT id, endpoint_id, aor, contact_uri, source_address, source_port, transport, user_agent,
    q_milli, call_id, cseq, path, instance_id, reg_id, expires_at, created_at, updated_at,
    NULL, 'unknown', created_at, updated_at, updated_at
FROM registrations;

DROP TABLE registrations;
ALTER TABLE registrations_0002 RENAME TO registrations;
CREATE INDEX registrations_endpoint_id ON registrations (endpoint_id);
CREATE INDEX registrations_expires_at ON registrations (expires_at);
