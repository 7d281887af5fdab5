//! The B2BUA call, sans-IO: the business lifecycle of one call between a caller's leg (A,
//! the INVITE Switchboard received) and a callee's leg (B, the INVITE Switchboard sent).
//!
//! The machine decides; its shell ([`super::CallActor`]) builds and sends the SIP messages
//! and runs the media. Inputs are what the legs did ([`CallInput`]) and `now`; outputs are
//! [`CallAction`]s. Time only matters for the ring timer: [`CallMachine::next_deadline`]
//! and [`CallMachine::on_timeout`].
//!
//! Rules it keeps (RFC 3261):
//! - a CANCEL goes to B only after B sent a provisional response (§9.1); a cancel wanted
//!   earlier waits for it;
//! - a 2xx from B that arrives when the call is over (the caller cancelled, the ring timer
//!   fired) is acknowledged and then ended with BYE (§15: the callee would otherwise hold a
//!   call nobody is on);
//! - the caller gets exactly one final response.

use std::time::{Duration, Instant};

use store::writer::{Disposition, HangupBy};

/// The call's states (the Call layer of the four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallState {
    /// The INVITE to the callee is on its way.
    Calling,
    /// The callee rings (180, or 183 without SDP).
    Ringing,
    /// The callee sent early media (a provisional response with SDP).
    EarlyMedia,
    /// Both legs answered.
    Confirmed,
    /// Ended after an answer, or cancelled by the caller.
    Disconnected,
    /// The callee refused or could not be reached.
    Failed,
    /// Nobody answered in time.
    Timeout,
}

impl CallState {
    /// The name in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Calling => "calling",
            CallState::Ringing => "ringing",
            CallState::EarlyMedia => "early_media",
            CallState::Confirmed => "confirmed",
            CallState::Disconnected => "disconnected",
            CallState::Failed => "failed",
            CallState::Timeout => "timeout",
        }
    }

    /// Whether the call has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallState::Disconnected | CallState::Failed | CallState::Timeout
        )
    }

    fn is_setup(self) -> bool {
        matches!(
            self,
            CallState::Calling | CallState::Ringing | CallState::EarlyMedia
        )
    }
}

/// A call leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller.
    Caller,
    /// The callee.
    Callee,
}

impl Side {
    /// The name in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Callee => "callee",
        }
    }

    /// The other leg.
    pub fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }

    fn hangup_by(self) -> HangupBy {
        match self {
            Side::Caller => HangupBy::Caller,
            Side::Callee => HangupBy::Callee,
        }
    }
}

/// What happened to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallInput {
    /// The callee sent a provisional response (101–199); `early_media` when it carried SDP.
    CalleeProvisional {
        /// The status.
        status: u16,
        /// Whether it carried an SDP answer.
        early_media: bool,
    },
    /// The callee answered 2xx (the first one: retransmissions are the dialog's business).
    CalleeAnswered,
    /// The callee answered 2xx, but its SDP answer cannot be used: the 2xx is acknowledged,
    /// the callee gets BYE and the caller 488.
    CalleeAnsweredUnusable {
        /// Why, for the 488's Warning.
        why: String,
    },
    /// The callee answered 300–699.
    CalleeRejected {
        /// The status.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The INVITE to the callee timed out (timer B).
    CalleeTimedOut,
    /// The callee could not be reached (transport error, no usable binding).
    CalleeUnreachable {
        /// Why.
        why: String,
    },
    /// The caller's answer could not be made (e.g. the callee's SDP answer is unusable).
    MediaFailed {
        /// Why, for a 488 Warning and the CDR.
        why: String,
    },
    /// The caller cancelled its INVITE (its transaction answered 487 already).
    CallerCancelled,
    /// A leg sent BYE.
    ByeFrom(Side),
    /// A leg's dialog ended without a BYE from it (no ACK, 408/481 to a request, a crash).
    LegLost {
        /// The leg.
        side: Side,
        /// Why.
        cause: String,
    },
    /// No RTP from a leg for the media timeout.
    MediaTimeout,
    /// Switchboard ends the call (operations API, shutdown).
    Hangup {
        /// Why.
        cause: String,
    },
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// Pass a provisional response on to the caller (with the SDP answer when
    /// `early_media`).
    ProvisionalToCaller {
        /// The status (180 or 183).
        status: u16,
        /// Whether to include the SDP answer.
        early_media: bool,
    },
    /// Answer the caller 200 with the SDP answer.
    AnswerCaller,
    /// Refuse the caller's INVITE (with a 399 Warning giving `reason` when it is ours).
    RejectCaller {
        /// The status.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// Acknowledge the callee's 2xx (in B's dialog).
    AckCallee,
    /// Send CANCEL for the INVITE to the callee.
    CancelCallee,
    /// Send BYE in a leg's dialog.
    Bye(Side),
    /// Stop relaying media.
    StopMedia,
    /// The call changed state.
    StateChanged {
        /// Before.
        from: CallState,
        /// After.
        to: CallState,
        /// Why.
        cause: String,
    },
    /// The call is over: write its CDR.
    Finished(CallOutcome),
}

/// How the call ended, for its CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// How it ended.
    pub disposition: Disposition,
    /// Who ended it.
    pub hangup_by: Option<HangupBy>,
    /// Why.
    pub cause: String,
    /// The final status the caller got.
    pub final_status: Option<u16>,
    /// When the callee first rang.
    pub ringing_at: Option<Instant>,
    /// When the call was answered.
    pub answered_at: Option<Instant>,
}

/// One B2BUA call (see the module documentation).
#[derive(Debug, Clone)]
pub struct CallMachine {
    state: CallState,
    ring_deadline: Option<Instant>,
    callee_provisional: bool,
    callee_final: bool,
    cancel_wanted: bool,
    cancel_sent: bool,
    caller_final: Option<u16>,
    ringing_at: Option<Instant>,
    answered_at: Option<Instant>,
    actions: Vec<CallAction>,
}

impl CallMachine {
    /// A call whose INVITE to the callee leaves at `now`; unanswered after `ring_timeout` it
    /// is cancelled (the caller gets 480 "No Answer").
    pub fn new(now: Instant, ring_timeout: Duration) -> CallMachine {
        CallMachine {
            state: CallState::Calling,
            ring_deadline: Some(now + ring_timeout),
            callee_provisional: false,
            callee_final: false,
            cancel_wanted: false,
            cancel_sent: false,
            caller_final: None,
            ringing_at: None,
            answered_at: None,
            actions: Vec::new(),
        }
    }

    /// The state.
    pub fn state(&self) -> CallState {
        self.state
    }

    /// Whether the INVITE to the callee has its final response (or gave up).
    pub fn callee_settled(&self) -> bool {
        self.callee_final
    }

    /// When [`CallMachine::on_timeout`] is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ring_deadline
    }

    /// The actions decided so far, in order.
    pub fn take_actions(&mut self) -> Vec<CallAction> {
        std::mem::take(&mut self.actions)
    }

    /// The ring timer, if due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        match self.ring_deadline {
            Some(at) if at <= now => self.ring_deadline = None,
            _ => return,
        }
        if self.state.is_setup() {
            self.cancel_callee();
            self.refuse(
                480,
                "No Answer",
                CallState::Timeout,
                "no answer",
                Disposition::NoAnswer,
                HangupBy::System,
            );
        }
    }

    /// One input at `now`.
    pub fn on_input(&mut self, input: CallInput, now: Instant) {
        match input {
            CallInput::CalleeProvisional {
                status,
                early_media,
            } => self.on_provisional(status, early_media, now),
            CallInput::CalleeAnswered => self.on_answered(now),
            CallInput::CalleeAnsweredUnusable { why } => self.on_answered_unusable(&why),
            CallInput::CalleeRejected { status, reason } => {
                self.callee_final = true;
                self.on_rejected(status, &reason);
            }
            CallInput::CalleeTimedOut => {
                self.callee_final = true;
                if self.state.is_setup() {
                    self.refuse(
                        408,
                        "Request Timeout",
                        CallState::Timeout,
                        "the callee did not answer the INVITE (timer B)",
                        Disposition::NoAnswer,
                        HangupBy::System,
                    );
                }
            }
            CallInput::CalleeUnreachable { why } => {
                self.callee_final = true;
                if self.state.is_setup() {
                    self.refuse(
                        480,
                        "Callee Unreachable",
                        CallState::Failed,
                        &why,
                        Disposition::Failed,
                        HangupBy::System,
                    );
                }
            }
            CallInput::MediaFailed { why } => self.on_media_failed(&why),
            CallInput::CallerCancelled => {
                if self.state.is_setup() {
                    // The caller's transaction answered 487 itself.
                    self.caller_final = Some(487);
                    self.cancel_callee();
                    self.finish(
                        CallState::Disconnected,
                        "caller cancelled",
                        Disposition::Cancelled,
                        Some(HangupBy::Caller),
                    );
                }
            }
            CallInput::ByeFrom(side) => self.on_bye(side),
            CallInput::LegLost { side, cause } => self.on_leg_lost(side, &cause),
            CallInput::MediaTimeout => self.end_both("media timeout", HangupBy::System),
            CallInput::Hangup { cause } => {
                if self.state.is_setup() {
                    self.cancel_callee();
                    self.refuse(
                        480,
                        "Call Ended",
                        CallState::Disconnected,
                        &cause,
                        Disposition::Failed,
                        HangupBy::System,
                    );
                } else {
                    self.end_both(&cause, HangupBy::System);
                }
            }
        }
    }

    fn on_provisional(&mut self, status: u16, early_media: bool, now: Instant) {
        if status <= 100 || self.callee_final {
            return;
        }
        self.callee_provisional = true;
        if self.cancel_wanted && !self.cancel_sent {
            // §9.1: the CANCEL that had to wait for a provisional response.
            self.cancel_sent = true;
            self.actions.push(CallAction::CancelCallee);
        }
        if !self.state.is_setup() {
            return;
        }
        self.ringing_at.get_or_insert(now);
        let to = if early_media {
            CallState::EarlyMedia
        } else if self.state == CallState::EarlyMedia {
            // Early media stays on until the answer.
            CallState::EarlyMedia
        } else {
            CallState::Ringing
        };
        // 180 and 183 are what phones know; other 1xx (181, 182) ring as 180.
        let status = if early_media { 183 } else { 180 };
        self.actions.push(CallAction::ProvisionalToCaller {
            status,
            early_media,
        });
        self.change(to, &format!("{status} from the callee"));
    }

    fn on_answered(&mut self, now: Instant) {
        let first = !self.callee_final;
        self.callee_final = true;
        if first {
            self.actions.push(CallAction::AckCallee);
        }
        if self.state.is_setup() {
            self.ring_deadline = None;
            self.answered_at = Some(now);
            self.caller_final = Some(200);
            self.actions.push(CallAction::AnswerCaller);
            self.change(CallState::Confirmed, "answered");
        } else if first {
            // Too late: the call is over; the callee must not be left holding it.
            self.actions.push(CallAction::Bye(Side::Callee));
        }
    }

    fn on_answered_unusable(&mut self, why: &str) {
        let first = !self.callee_final;
        self.callee_final = true;
        if first {
            self.actions.push(CallAction::AckCallee);
            self.actions.push(CallAction::Bye(Side::Callee));
        }
        if self.state.is_setup() {
            self.refuse(
                488,
                why,
                CallState::Failed,
                why,
                Disposition::Failed,
                HangupBy::System,
            );
        }
    }

    fn on_rejected(&mut self, status: u16, reason: &str) {
        if !self.state.is_setup() {
            return;
        }
        let (to_caller, disposition) = match status {
            486 | 600 => (status, Disposition::Busy),
            // The callee wants credentials or redirects us: nothing the caller can act on.
            401 | 407 => (403, Disposition::Failed),
            300..=399 => (480, Disposition::Failed),
            408 | 480 => (status, Disposition::NoAnswer),
            _ => (status, Disposition::Failed),
        };
        let reason = if to_caller == status {
            reason.to_owned()
        } else {
            sip::reason_phrase(to_caller).to_owned()
        };
        self.refuse(
            to_caller,
            &reason,
            CallState::Failed,
            &format!("{status} from the callee"),
            disposition,
            HangupBy::Callee,
        );
    }

    fn on_media_failed(&mut self, why: &str) {
        if self.state.is_setup() {
            // Every final response from the callee ends the setup, so it has sent none yet.
            self.cancel_callee();
            self.refuse(
                488,
                why,
                CallState::Failed,
                why,
                Disposition::Failed,
                HangupBy::System,
            );
        } else if self.state == CallState::Confirmed {
            self.end_both(why, HangupBy::System);
        }
    }

    fn on_bye(&mut self, side: Side) {
        match self.state {
            CallState::Confirmed => self.end_other(
                side,
                &format!("BYE from the {}", side.as_str()),
                side.hangup_by(),
            ),
            // A caller may end an early dialog with BYE (§15): treated as a cancel, and its
            // INVITE still needs a final response.
            state if state.is_setup() && side == Side::Caller => {
                self.cancel_callee();
                self.refuse(
                    487,
                    "Request Terminated",
                    CallState::Disconnected,
                    "BYE from the caller before the answer",
                    Disposition::Cancelled,
                    HangupBy::Caller,
                );
            }
            _ => {}
        }
    }

    fn on_leg_lost(&mut self, side: Side, cause: &str) {
        match self.state {
            CallState::Confirmed => self.end_other(
                side,
                &format!("{} leg lost: {cause}", side.as_str()),
                HangupBy::System,
            ),
            state if state.is_setup() => {
                self.cancel_callee();
                self.refuse(
                    500,
                    "Call Leg Lost",
                    CallState::Failed,
                    &format!("{} leg lost: {cause}", side.as_str()),
                    Disposition::Failed,
                    HangupBy::System,
                );
            }
            _ => {}
        }
    }

    /// Ends an answered call that `side` has left: BYE to the other side.
    fn end_other(&mut self, side: Side, cause: &str, by: HangupBy) {
        self.hang_up(&[side.other()], cause, by);
    }

    /// Ends an answered call from Switchboard's side: BYE both ways.
    fn end_both(&mut self, cause: &str, by: HangupBy) {
        if self.state != CallState::Confirmed {
            return;
        }
        self.hang_up(&[Side::Caller, Side::Callee], cause, by);
    }

    /// BYE to `sides`, the media stopped, the answered call disconnected.
    fn hang_up(&mut self, sides: &[Side], cause: &str, by: HangupBy) {
        for side in sides {
            self.actions.push(CallAction::Bye(*side));
        }
        self.actions.push(CallAction::StopMedia);
        self.finish(
            CallState::Disconnected,
            cause,
            Disposition::Answered,
            Some(by),
        );
    }

    fn cancel_callee(&mut self) {
        if self.callee_final || self.cancel_wanted {
            return;
        }
        self.cancel_wanted = true;
        if self.callee_provisional {
            self.cancel_sent = true;
            self.actions.push(CallAction::CancelCallee);
        }
    }

    /// Refuses the caller with `status` and ends the call in `to`.
    fn refuse(
        &mut self,
        status: u16,
        reason: &str,
        to: CallState,
        cause: &str,
        disposition: Disposition,
        by: HangupBy,
    ) {
        self.reject_caller(status, reason);
        self.finish(to, cause, disposition, Some(by));
    }

    fn reject_caller(&mut self, status: u16, reason: &str) {
        if self.caller_final.is_some() {
            return;
        }
        self.caller_final = Some(status);
        self.actions.push(CallAction::RejectCaller {
            status,
            reason: reason.to_owned(),
        });
    }

    fn change(&mut self, to: CallState, cause: &str) {
        if to == self.state {
            return;
        }
        self.actions.push(CallAction::StateChanged {
            from: self.state,
            to,
            cause: cause.to_owned(),
        });
        self.state = to;
    }

    fn finish(
        &mut self,
        to: CallState,
        cause: &str,
        disposition: Disposition,
        hangup_by: Option<HangupBy>,
    ) {
        if self.state.is_setup() {
            // Early media may be flowing.
            self.actions.push(CallAction::StopMedia);
        }
        self.ring_deadline = None;
        self.change(to, cause);
        self.actions.push(CallAction::Finished(CallOutcome {
            disposition,
            hangup_by,
            cause: cause.to_owned(),
            final_status: self.caller_final,
            ringing_at: self.ringing_at,
            answered_at: self.answered_at,
        }));
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
