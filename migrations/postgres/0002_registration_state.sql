-- Registrar bindings that survive a restart (issue #5), PostgreSQL dialect
-- (migrations/sqlite/0002 is the same change).
--
-- A binding is written by the registrar when a REGISTER adds or refreshes it, when its
-- reachability changes and when it is removed; at start the live ones are loaded back.
-- created_at / updated_at stay row bookkeeping (first inserted, last written); the binding's
-- own times are the registrar's: registered_at, refreshed_at, last_seen_at.

-- Our socket ("ip:port", IPv6 in brackets) the binding's flow arrived at, so requests to
-- the contact leave from the same socket (RFC 3581 symmetric response, NAT bindings, RFC 5626
-- flows). NULL only for a binding stored before this column existed: the registrar does not
-- load such a row (it cannot know the flow) and the phone's next REGISTER replaces it.
ALTER TABLE registrations ADD COLUMN local_address text;

-- Whether the contact answers: 'unknown' until qualified (OPTIONS, keep-alive), then
-- 'reachable' or 'unreachable'.
ALTER TABLE registrations ADD COLUMN reachability text NOT NULL DEFAULT 'unknown'
    CHECK (reachability IN ('unknown', 'reachable', 'unreachable'));

-- When the binding was first registered (kept across refreshes; a new binding after removal
-- or expiry starts again). Existing rows: when the row was created.
ALTER TABLE registrations ADD COLUMN registered_at timestamptz;
-- When a REGISTER last refreshed it. Existing rows: when the row was last written.
ALTER TABLE registrations ADD COLUMN refreshed_at timestamptz;
-- When anything last arrived from the contact (REGISTER, qualify answer, keep-alive).
-- Existing rows: when the row was last written.
ALTER TABLE registrations ADD COLUMN last_seen_at timestamptz;

UPDATE registrations
   SET registered_at = created_at, refreshed_at = updated_at, last_seen_at = updated_at;

ALTER TABLE registrations
    ALTER COLUMN registered_at SET NOT NULL,
    ALTER COLUMN refreshed_at SET NOT NULL,
    ALTER COLUMN last_seen_at SET NOT NULL;
