//! Finding the dialog of an incoming request, and 481 when there is none (RFC 3261 §12.2.2).

use std::collections::HashMap;
use std::time::Instant;

use crate::header::Via;
use crate::message::{Request, Response};
use crate::method::Method;

use super::incoming::{RequestVerdict, reject_unmatched};
use super::state::Dialog;
use super::types::{DialogAction, DialogId, DialogState};

/// The 481 (Call/Transaction Does Not Exist) for a request with a To tag that matches no
/// dialog (§12.2.2).
pub fn no_dialog_response(req: &Request) -> Response {
    Response::from_request(req, 481, None)
}

/// Why no dialog takes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmatched {
    /// To has no tag: the request is outside any dialog; handle it per §8.2.
    OutOfDialog,
    /// It names a dialog that does not exist (or is terminated): send this 481.
    Respond(Response),
    /// An ACK that names no dialog: drop it.
    Drop,
}

/// Where an incoming request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// To has no tag: handle the request outside any dialog (§8.2).
    OutOfDialog,
    /// Dialog `id` accepted the request: hand it to the application, after recording `actions`.
    Accepted {
        /// The dialog.
        id: DialogId,
        /// State changes (a BYE's) to record.
        actions: Vec<DialogAction>,
    },
    /// Answer with this response (481, 500 with Retry-After, 491, 400) and go no further.
    Respond(Response),
    /// Drop it without answer.
    Drop,
}

/// Hands `req` to the dialog `find` returns for its id, or says why none takes it.
pub(super) fn route_request<'a>(
    req: &Request,
    retry_after: u32,
    find: impl FnOnce(&DialogId) -> Option<&'a mut Dialog>,
) -> Routed {
    let Some(id) = DialogId::of_received_request(req) else {
        return Routed::OutOfDialog;
    };
    let Some(dialog) = find(&id) else {
        return match reject_unmatched(req) {
            RequestVerdict::Respond(r) => Routed::Respond(r),
            _ => Routed::Drop,
        };
    };
    match dialog.on_request(req, retry_after) {
        RequestVerdict::Accept(actions) => Routed::Accepted { id, actions },
        RequestVerdict::Respond(r) => Routed::Respond(r),
        RequestVerdict::Drop => Routed::Drop,
    }
}

/// The dialogs of one user agent, by id.
#[derive(Debug, Clone, Default)]
pub struct DialogTable {
    dialogs: HashMap<DialogId, Dialog>,
}

impl DialogTable {
    /// An empty table.
    pub fn new() -> Self {
        DialogTable::default()
    }

    /// How many dialogs it holds (terminated ones included until purged).
    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// Adds a dialog, returning the one it replaces (same id), if any.
    pub fn insert(&mut self, dialog: Dialog) -> Option<Dialog> {
        self.dialogs.insert(dialog.id().clone(), dialog)
    }

    /// The dialog with this id.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id)
    }

    /// The dialog with this id, for changing it.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.dialogs.get_mut(id)
    }

    /// Removes and returns the dialog with this id.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.dialogs.remove(id)
    }

    /// Every dialog, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs.values()
    }

    /// Removes and returns the terminated dialogs (sorted by id).
    pub fn purge_terminated(&mut self) -> Vec<Dialog> {
        let mut ids: Vec<DialogId> = self
            .dialogs
            .values()
            .filter(|d| d.state() == DialogState::Terminated)
            .map(|d| d.id().clone())
            .collect();
        ids.sort();
        ids.iter()
            .filter_map(|id| self.dialogs.remove(id))
            .collect()
    }

    /// The live dialog an incoming request belongs to (§12.2.2), or why there is none:
    /// no To tag, a 481 to send, or an ACK to drop.
    pub fn find_for_request(&mut self, req: &Request) -> Result<&mut Dialog, Unmatched> {
        let Some(id) = DialogId::of_received_request(req) else {
            return Err(Unmatched::OutOfDialog);
        };
        match self.dialogs.get_mut(&id) {
            Some(d) if d.state() != DialogState::Terminated || req.method == Method::Ack => Ok(d),
            _ => Err(match reject_unmatched(req) {
                RequestVerdict::Respond(r) => Unmatched::Respond(r),
                _ => Unmatched::Drop,
            }),
        }
    }

    /// Finds the dialog of `req` and applies [`Dialog::on_request`] to it; `retry_after` is the
    /// Retry-After of a 500 (out-of-order CSeq, overlapping INVITE).
    pub fn route(&mut self, req: &Request, retry_after: u32) -> Routed {
        route_request(req, retry_after, |id| self.dialogs.get_mut(id))
    }

    /// The earliest timer of any dialog.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.dialogs
            .values()
            .filter_map(Dialog::next_deadline)
            .min()
    }

    /// Runs every dialog timer due at `now` (dialogs in id order); `via` supplies a Via with a
    /// new branch for each BYE built.
    pub fn on_timeout(&mut self, now: Instant, mut via: impl FnMut() -> Via) -> Vec<DialogAction> {
        let mut due: Vec<DialogId> = self
            .dialogs
            .values()
            .filter(|d| d.next_deadline().is_some_and(|t| t <= now))
            .map(|d| d.id().clone())
            .collect();
        due.sort();
        let mut actions = Vec::new();
        for id in due {
            if let Some(d) = self.dialogs.get_mut(&id) {
                actions.extend(d.on_timeout(now, &mut via));
            }
        }
        actions
    }
}
