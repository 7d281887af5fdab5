//! The demo data set of `switchboard serve --demo`: three endpoints, two agents with
//! skills, one queue and the IVR flow `ivr-flows/demo.yaml` (embedded at build time).
//! Seeding is idempotent: what exists already is left as it is.

use store::agents::NewAgent;
use store::endpoints::NewEndpoint;
use store::ivr::Saved;
use store::queues::{NewQueue, Strategy};
use store::{Store, StoreError};
use tracing::info;

/// The demo IVR flow's text (`ivr-flows/demo.yaml`).
pub const DEMO_FLOW: &str = include_str!("../../../../ivr-flows/demo.yaml");

/// Who the audit log names for seeded rows.
pub const ACTOR: &str = "demo-seed";

/// Demo endpoints: (user name, password, display name). The passwords are public: demo only.
pub const ENDPOINTS: [(&str, &str, &str); 3] = [
    ("1001", "demo1001", "Alice's phone"),
    ("1002", "demo1002", "Bob's phone"),
    ("1003", "demo1003", "Front desk"),
];

/// What [`seed`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Rows created now.
    pub created: usize,
    /// Rows that existed already.
    pub existing: usize,
}

impl Seeded {
    fn note<T>(&mut self, result: Result<T, StoreError>) -> Result<(), StoreError> {
        match result {
            Ok(_) => self.created += 1,
            Err(StoreError::Duplicate { .. }) => self.existing += 1,
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Creates whatever part of the demo set is missing.
pub async fn seed(store: &Store) -> Result<Seeded, StoreError> {
    let mut seeded = Seeded::default();
    for (user, password, display) in ENDPOINTS {
        let mut e = NewEndpoint::new(user, password);
        e.group = Some("demo".into());
        e.display_name = Some(display.into());
        seeded.note(store.add_endpoint(&e, ACTOR).await)?;
    }
    let agents = [
        NewAgent {
            name: "alice".into(),
            display_name: Some("Alice Martin".into()),
            extension: Some("1001".into()),
            max_calls: 1,
            skills: vec![("support".into(), 90), ("sales".into(), 40)],
        },
        NewAgent {
            name: "bob".into(),
            display_name: Some("Bob Durand".into()),
            extension: Some("1002".into()),
            max_calls: 2,
            skills: vec![("support".into(), 60), ("billing".into(), 80)],
        },
    ];
    for agent in &agents {
        seeded.note(store.add_agent(agent, ACTOR).await)?;
    }
    let mut support = NewQueue::new("support", Strategy::SkillsBased);
    support.required_skills = vec![("support".into(), 50)];
    support.max_waiting = Some(20);
    support.max_wait_secs = Some(300);
    support.wrap_up_secs = 10;
    support.overflow = Some("extension:1003".into());
    seeded.note(store.add_queue(&support, ACTOR).await)?;
    match store.save_ivr_flow("demo", DEMO_FLOW, ACTOR).await? {
        Saved::NewVersion(_) => seeded.created += 1,
        Saved::Unchanged(_) => seeded.existing += 1,
    }
    info!(
        created = seeded.created,
        existing = seeded.existing,
        endpoints = "1001/demo1001 1002/demo1002 1003/demo1003 (realm switchboard)",
        "demo data set seeded"
    );
    Ok(seeded)
}
