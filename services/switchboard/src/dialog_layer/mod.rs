//! The dialog layer (RFC 3261 §12): the `DialogSupervisor` and one [`DialogActor`] per
//! dialog.
//!
//! The supervisor owns the map from [`DialogId`] to dialog actor (the role of
//! `sip::dialog::DialogTable`, with each dialog's state in its own actor) and is the
//! transaction user of every request with a To tag: it passes the request to its dialog's
//! actor, or answers 481 through the request's server transaction when there is none
//! (§12.2.2). An ACK that matches no transaction (the ACK for a 2xx) comes here too and goes
//! to its dialog, or is absorbed.
//!
//! An INFO in a dialog (RFC 6086, legacy: no Info-Package) carrying `application/dtmf-relay`
//! or `application/dtmf` is answered 200 and its digit published as a Call-layer `dtmf`
//! event ([`dtmf_event`]: digit, duration, source form); a bad body gets 400 saying why.
//!
//! Dialogs are created by the transaction user that answers an INVITE (the user agent) with
//! [`Dialogs::spawn`], which starts the actor and registers it here before the response that
//! creates the dialog is sent.
//!
//! Supervision: a dialog actor runs every input under `catch_unwind`; on a panic it reports
//! `ChildFailed` and stops; the supervisor counts it in
//! `sip_actor_failures_total{actor="dialog"}`, publishes a `child_failed` event, logs an error
//! with the Call-ID and forgets the dialog (its requests get 481 from then on).

mod actor;
mod control;
mod info;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::{Actor, Addr, Context, Handler, Message, Recipient};
use sip::dialog::{Dialog, DialogAction, DialogConfig, DialogId, no_dialog_response};
use sip::{Header, Request, Response};
use tracing::{debug, error, info, info_span, warn};

pub use actor::DialogActor;
pub use control::{DialogNotice, DialogNoticeKind, Hangup, SendDtmfInfo, UacResponse};
pub use info::{dtmf_event, source_name};

use crate::events::Layer;
use crate::stack::Services;
use crate::stats::SipCounters;
use crate::supervision::{ChildFailed, InjectPanic, failure_event};
use crate::transaction_layer::{Respond, TransactionLayer, TxEvent, TxEventKind};
use crate::transport::Flow;
use crate::ua_core::UaCore;

/// A request the peer sent within a dialog (supervisor → dialog actor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct InDialog {
    /// The request.
    pub request: Request,
    /// Its server transaction, to answer through (none for an ACK).
    pub tx: Option<Addr<crate::transaction_layer::TransactionActor>>,
}

/// An ACK that matched no transaction (`TransactionLayer` → supervisor): the ACK for a 2xx.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct UnmatchedAck {
    /// The ACK.
    pub request: Request,
    /// The flow it came on.
    pub flow: Flow,
}

/// A response that matched no client transaction (`TransactionLayer` → supervisor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct StrayResponse {
    /// The response.
    pub response: Response,
    /// The flow it came on.
    pub flow: Flow,
}

/// Ends a dialog that cannot go on (its INVITE transaction failed before a final response)
/// with `cause` (→ dialog actor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Abort {
    /// Why, for the event log.
    pub cause: String,
}

/// Fault injection (→ `DialogSupervisor`): make the actor of dialog `id` panic, as a bug
/// would. Answers whether such a dialog was alive.
#[derive(Debug, Clone, Message)]
#[rtype(result = "bool")]
pub struct InjectDialogPanic {
    /// The dialog.
    pub id: DialogId,
}

/// The live dialogs (→ `DialogSupervisor`), for operations and tests.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<DialogId>")]
pub struct ListDialogs;

/// A dialog actor started (→ supervisor).
#[derive(Message)]
#[rtype(result = "()")]
struct Register {
    id: DialogId,
    child: u64,
    addr: Addr<DialogActor>,
}

/// A dialog terminated (dialog actor → supervisor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
struct DialogEnded {
    id: DialogId,
    child: u64,
}

/// Numbers dialog actors, so a late `DialogEnded` cannot remove a newer dialog.
static NEXT_CHILD: AtomicU64 = AtomicU64::new(1);

/// What a transaction user needs to create dialogs: a cheap handle, cloned into each.
#[derive(Clone)]
pub struct Dialogs {
    supervisor: Addr<DialogSupervisor>,
    transactions: Addr<TransactionLayer>,
    services: Services,
    core: Arc<UaCore>,
    config: DialogConfig,
}

impl Dialogs {
    /// The handle over a supervisor and the transaction layer its dialogs send requests
    /// through (a BYE after 64*T1 without ACK).
    pub fn new(
        supervisor: Addr<DialogSupervisor>,
        transactions: Addr<TransactionLayer>,
        services: Services,
        core: Arc<UaCore>,
        config: DialogConfig,
    ) -> Self {
        Dialogs {
            supervisor,
            transactions,
            services,
            core,
            config,
        }
    }

    /// The timer values dialogs run with.
    pub fn config(&self) -> DialogConfig {
        self.config
    }

    /// Hands an ACK that no transaction took to its dialog (or has it absorbed).
    pub fn ack(&self, request: Request, flow: Flow) {
        self.supervisor.do_send(UnmatchedAck { request, flow });
    }

    /// Starts the actor of a new `dialog` (with the actions its creation returned) on `flow`,
    /// registers it with the supervisor and returns it. `local` is the address our requests
    /// in the dialog carry in their Via.
    pub fn spawn(
        &self,
        dialog: Dialog,
        created: Vec<DialogAction>,
        flow: Flow,
        local: SocketAddr,
    ) -> Addr<DialogActor> {
        self.spawn_owned(dialog, created, flow, local, None)
    }

    /// [`Dialogs::spawn`] for a dialog whose `owner` (the call engine) hears of its end and
    /// of DTMF by INFO, and may hang it up ([`Hangup`]).
    pub fn spawn_owned(
        &self,
        dialog: Dialog,
        created: Vec<DialogAction>,
        flow: Flow,
        local: SocketAddr,
        owner: Option<Recipient<DialogNotice>>,
    ) -> Addr<DialogActor> {
        let child = NEXT_CHILD.fetch_add(1, Ordering::Relaxed);
        let id = dialog.id().clone();
        let addr = DialogActor::new(actor::DialogSetup {
            child,
            dialog,
            created,
            flow,
            local,
            supervisor: self.supervisor.clone(),
            transactions: self.transactions.clone(),
            services: self.services.clone(),
            core: self.core.clone(),
            owner,
        })
        .start();
        self.supervisor.do_send(Register {
            id,
            child,
            addr: addr.clone(),
        });
        addr
    }
}

struct Child {
    id: u64,
    addr: Addr<DialogActor>,
}

/// The supervisor of the dialog actors (see the module documentation).
pub struct DialogSupervisor {
    services: Services,
    children: HashMap<DialogId, Child>,
}

impl DialogSupervisor {
    /// An empty supervisor.
    pub fn new(services: Services) -> Self {
        DialogSupervisor {
            services,
            children: HashMap::new(),
        }
    }

    /// The live actor of dialog `id`; a stopped one still filed is forgotten on the way.
    fn live(&mut self, id: &DialogId) -> Option<Addr<DialogActor>> {
        let child = self.children.get(id)?;
        if child.addr.connected() {
            return Some(child.addr.clone());
        }
        let n = child.id;
        self.forget(id, n);
        None
    }

    fn forget(&mut self, id: &DialogId, child: u64) -> bool {
        if self.children.get(id).is_none_or(|c| c.id != child) {
            return false;
        }
        self.children.remove(id);
        if let Some(m) = &self.services.metrics {
            m.dialog_ended();
        }
        true
    }

    /// A new request with a To tag, from its server transaction.
    fn on_request(&mut self, event: &TxEvent, request: &Request) {
        let found = DialogId::of_received_request(request).and_then(|id| self.live(&id));
        match found {
            Some(dialog) => dialog.do_send(InDialog {
                request: request.clone(),
                tx: Some(event.tx.clone()),
            }),
            None if request.method == sip::Method::Ack => {
                SipCounters::bump(&self.services.counters.acks_absorbed);
            }
            None => {
                debug!(method = %request.method, "request for no known dialog: 481");
                let response = no_dialog_response(request).with_header(Header::Server(
                    bytestring::ByteString::from_static(crate::SERVER_NAME),
                ));
                event.tx.do_send(Respond::plain(response));
            }
        }
    }
}

impl Actor for DialogSupervisor {
    type Context = Context<Self>;
}

impl Handler<TxEvent> for DialogSupervisor {
    type Result = ();

    fn handle(&mut self, event: TxEvent, _ctx: &mut Self::Context) {
        let span = info_span!("dialogs", call_id = %event.call_id, transaction = %event.key);
        let _entered = span.enter();
        match &event.kind {
            TxEventKind::Request(request) => self.on_request(&event, request),
            TxEventKind::Response(response) => info!(
                status = response.status,
                "response to a request a dialog sent"
            ),
            TxEventKind::Timeout => warn!("a request a dialog sent timed out"),
            TxEventKind::TransportError => warn!("transport error on an in-dialog transaction"),
            TxEventKind::Cancelled => info!("in-dialog INVITE cancelled"),
            TxEventKind::Refused(status) => debug!(status, "transaction refused a response"),
            TxEventKind::Failed => warn!("in-dialog transaction actor failed"),
        }
    }
}

impl Handler<UnmatchedAck> for DialogSupervisor {
    type Result = ();

    fn handle(&mut self, msg: UnmatchedAck, _ctx: &mut Self::Context) {
        let found = DialogId::of_received_request(&msg.request).and_then(|id| self.live(&id));
        match found {
            Some(dialog) => dialog.do_send(InDialog {
                request: msg.request,
                tx: None,
            }),
            None => {
                SipCounters::bump(&self.services.counters.acks_absorbed);
                debug!(
                    call_id = msg.request.headers.call_id().map_or("", |c| c.as_ref()),
                    peer = %msg.flow.peer,
                    "ACK matches no transaction or dialog; absorbed"
                );
            }
        }
    }
}

impl Handler<StrayResponse> for DialogSupervisor {
    type Result = ();

    fn handle(&mut self, msg: StrayResponse, _ctx: &mut Self::Context) {
        // A 2xx retransmitted after our INVITE transaction ended belongs to the UAC dialog
        // it created, which sends the same ACK again (§13.2.2.4).
        let is_invite = msg
            .response
            .headers
            .cseq()
            .is_some_and(|c| c.method == sip::Method::Invite);
        if msg.response.class() == 2 && is_invite {
            let found = DialogId::of_received_response(&msg.response).and_then(|id| self.live(&id));
            if let Some(dialog) = found {
                debug!(
                    status = msg.response.status,
                    "2xx retransmission for a dialog of ours"
                );
                dialog.do_send(UacResponse(msg.response));
                return;
            }
        }
        SipCounters::bump(&self.services.counters.stray_responses);
        warn!(
            call_id = msg.response.headers.call_id().map_or("", |c| c.as_ref()),
            status = msg.response.status,
            peer = %msg.flow.peer,
            "sip in: dropped stray response (no client transaction or dialog)"
        );
    }
}

impl Handler<Register> for DialogSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Register, _ctx: &mut Self::Context) {
        if let Some(old) = self.children.get(&msg.id).map(|c| c.id) {
            self.forget(&msg.id, old);
        }
        if let Some(m) = &self.services.metrics {
            m.dialog_started();
        }
        self.children.insert(
            msg.id,
            Child {
                id: msg.child,
                addr: msg.addr,
            },
        );
    }
}

impl Handler<DialogEnded> for DialogSupervisor {
    type Result = ();

    fn handle(&mut self, msg: DialogEnded, _ctx: &mut Self::Context) {
        self.forget(&msg.id, msg.child);
    }
}

impl Handler<ChildFailed> for DialogSupervisor {
    type Result = ();

    fn handle(&mut self, failed: ChildFailed, _ctx: &mut Self::Context) {
        error!(
            call_id = %failed.call_id,
            dialog = %failed.name,
            panic = %failed.message,
            "dialog actor panicked; stopped and forgotten (other dialogs carry on)"
        );
        let event =
            failure_event(&self.services, &failed, Layer::Dialog).dialog(failed.name.clone());
        self.services.publish(event);
        let id = self
            .children
            .iter()
            .find(|(_, c)| c.id == failed.child)
            .map(|(id, _)| id.clone());
        if let Some(id) = id {
            self.forget(&id, failed.child);
        }
    }
}

impl Handler<InjectDialogPanic> for DialogSupervisor {
    type Result = bool;

    fn handle(&mut self, msg: InjectDialogPanic, _ctx: &mut Self::Context) -> bool {
        match self.live(&msg.id) {
            Some(dialog) => {
                warn!(dialog = %msg.id, "fault injection: making a dialog actor panic");
                dialog.do_send(InjectPanic);
                true
            }
            None => false,
        }
    }
}

impl Handler<ListDialogs> for DialogSupervisor {
    type Result = Vec<DialogId>;

    fn handle(&mut self, _: ListDialogs, _ctx: &mut Self::Context) -> Vec<DialogId> {
        self.children
            .iter()
            .filter(|(_, c)| c.addr.connected())
            .map(|(id, _)| id.clone())
            .collect()
    }
}
