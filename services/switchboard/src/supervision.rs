//! Supervision of the per-transaction and per-dialog actors.
//!
//! actix does not catch a panic in a message handler: it unwinds through the arbiter and takes
//! every actor on that thread with it. So each child actor runs every input (message, timer)
//! through [`guard`], which catches the panic. On a panic the child reports [`ChildFailed`] to
//! its supervisor (the `TransactionLayer` for transactions, the `DialogSupervisor` for
//! dialogs) and stops; the supervisor counts the failure (`sip_actor_failures_total`),
//! publishes an event (kind `child_failed`, the panic message as cause), logs an error with the
//! Call-ID and forgets the child. Nothing else is restarted: a transaction or dialog's state is
//! gone with it, and the peer's next retransmission starts afresh (see
//! `docs/ARCHITECTURE.md`, "Supervision policy").
//!
//! [`InjectPanic`] is the fault-injection message: every child actor handles it by panicking
//! inside its guard, so tests (and operators, through the supervisors' `Inject*Panic`
//! messages) can check that one failure stays one failure.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use actix::Message;

use crate::metrics::TransactionKind;

/// Which kind of child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildKind {
    /// A transaction actor of this kind.
    Transaction(TransactionKind),
    /// A dialog actor.
    Dialog,
    /// A call actor (the B2BUA of one call).
    Call,
}

impl ChildKind {
    /// The `actor` label of `sip_actor_failures_total`: `transaction`, `dialog` or `call`.
    pub fn label(self) -> &'static str {
        match self {
            ChildKind::Transaction(_) => "transaction",
            ChildKind::Dialog => "dialog",
            ChildKind::Call => "call",
        }
    }
}

impl fmt::Display for ChildKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildKind::Transaction(kind) => write!(f, "{} transaction", kind.as_str()),
            ChildKind::Dialog => f.write_str("dialog"),
            ChildKind::Call => f.write_str("call"),
        }
    }
}

/// A child actor panicked while handling an input and stopped; sent to its supervisor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ChildFailed {
    /// What the child was.
    pub kind: ChildKind,
    /// The supervisor's number for the child (so a newer child under the same key is kept).
    pub child: u64,
    /// The child's name: the transaction key or the dialog id, as displayed.
    pub name: String,
    /// The Call-ID the child served.
    pub call_id: String,
    /// The panic message.
    pub message: String,
}

/// Counts a child actor's failure (`sip_actor_failures_total`) and returns its
/// `child_failed` event in `layer`, for the supervisor to complete and publish.
pub fn failure_event(
    services: &crate::stack::Services,
    failed: &ChildFailed,
    layer: crate::events::Layer,
) -> crate::events::EventDraft {
    if let Some(m) = &services.metrics {
        m.actor_failed(failed.kind.label());
    }
    crate::events::EventDraft::new(layer, &failed.call_id)
        .kind("child_failed")
        .cause(failed.message.clone())
        .detail(serde_json::json!({ "actor": failed.kind.to_string() }))
}

/// Fault injection: the receiving child actor panics inside its guard, exactly as a bug in a
/// handler would, and is supervised accordingly. Used by the supervision test.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// The panic message carried by a panic payload (`&str` or `String`; anything else is
/// described as such).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs `f`, catching a panic and returning its message instead.
pub fn guard<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_returns_the_value_or_the_panic_message() {
        assert_eq!(guard(|| 7), Ok(7));
        assert_eq!(guard(|| -> u8 { panic!("boom") }), Err("boom".to_owned()));
        let n = 3;
        assert_eq!(
            guard(|| -> u8 { panic!("formatted {n}") }),
            Err("formatted 3".to_owned())
        );
        let payload: Box<dyn Any + Send> = Box::new(42u32);
        assert_eq!(panic_message(&*payload), "panic with a non-string payload");
    }

    #[test]
    fn kinds_have_bounded_labels() {
        assert_eq!(
            ChildKind::Transaction(TransactionKind::InviteServer).label(),
            "transaction"
        );
        assert_eq!(ChildKind::Dialog.label(), "dialog");
        assert_eq!(
            ChildKind::Transaction(TransactionKind::NonInviteClient).to_string(),
            "non_invite_client transaction"
        );
    }
}
