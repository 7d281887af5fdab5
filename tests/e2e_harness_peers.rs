//! The harness's peers against a real registrar: Kamailio (Debian package
//! `kamailio`) stands in for Switchboard's registrar, so these tests prove
//! the harness itself works — the digest client's arithmetic agrees with a
//! registrar written by others, and baresip registers from inside a network
//! namespace. They stay as harness tests once Switchboard's registrar
//! exists: a failure here means the harness (or a peer's version) changed,
//! not the server.
//!
//! Kamailio runs with a configuration written into a scratch directory:
//! stateless, `auth` (pv_www_authenticate against plain passwords, qop=auth,
//! nonce counts checked), `registrar`/`usrloc` in memory. Its answers:
//! no or bad credentials 401, wrong password 403, stale nonce 401 with
//! `stale=true`.

mod support;

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::baresip::{Baresip, BaresipAccount, BaresipTransport, find_on_path};
use support::digest_client::{
    Authorization, Challenge, DigestAlgorithm, DigestClient, QopAuth, challenges_of,
    digest_response, pick_challenge,
};
use support::netns::TestNetns;
use support::{Server, SipMessage, free_port, new_branch, registrar, scratch_dir, unique_token};

// ---------------------------------------------------------------------------
// Kamailio, a reference registrar
// ---------------------------------------------------------------------------

/// How a [`Kamailio`] is set up.
struct KamailioConfig {
    /// UDP listen address (loopback, or an address inside a namespace).
    listen: SocketAddr,
    /// `MD5` or `SHA-256` (the auth module's `algorithm`, one per instance).
    algorithm: &'static str,
    /// Users and plain passwords.
    users: Vec<(&'static str, &'static str)>,
    /// Seconds a nonce stays valid (`nonce_expire`).
    nonce_expire: u32,
    /// Prepend a made-up `algorithm=SHA-256` challenge to each 401, before
    /// the real (MD5) one, as Switchboard orders them.
    sha256_decoy_first: bool,
    /// Also listen on TCP (same address).
    tcp: bool,
}

impl KamailioConfig {
    fn new(listen: SocketAddr, algorithm: &'static str) -> KamailioConfig {
        KamailioConfig {
            listen,
            algorithm,
            users: vec![("alice", "secret"), ("bob", "b0b-pass")],
            nonce_expire: 30,
            sha256_decoy_first: false,
            tcp: false,
        }
    }

    fn render(&self, module_path: &Path) -> String {
        let mut passwords = String::new();
        for (user, password) in &self.users {
            passwords.push_str(&format!(
                "    if ($au == \"{user}\") {{ $var(pw) = \"{password}\"; }}\n"
            ));
        }
        let challenge = if self.sha256_decoy_first {
            // auth_get_www_authenticate builds the real (MD5) header; the decoy goes first.
            "auth_get_www_authenticate(\"$td\", \"1\", \"$var(real)\");\n        \
             append_to_reply(\"WWW-Authenticate: Digest realm=\\\"$td\\\", nonce=\\\"decoy-sha256-nonce\\\", qop=\\\"auth\\\", algorithm=SHA-256\\r\\n\");\n        \
             append_to_reply(\"$var(real)\");\n        \
             sl_send_reply(\"401\", \"Unauthorized\");"
                .to_owned()
        } else {
            "www_challenge(\"$td\", \"1\");".to_owned()
        };
        format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
{transports}
auto_aliases=no
listen=udp:{listen}
mpath="{mpath}"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "nonce_count", 1)
modparam("auth", "nonce_expire", {nonce_expire})
modparam("auth", "secret", "{secret}")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("registrar", "default_expires", 60)

request_route {{
    xlog("L_NOTICE", "REQ $rm ua=[$ua] contact=[$hdr(Contact)] expires=[$hdr(Expires)] auth=[$hdr(Authorization)]\n");
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (!is_method("REGISTER")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    # Unknown users get a password nobody knows: a challenge, then 403.
    $var(pw) = "unknown-user-" + $ci;
{passwords}    pv_www_authenticate("$td", "$var(pw)", "0");
    $var(rc) = $rc;
    xlog("L_NOTICE", "AUTH rc=$var(rc)\n");
    if ($var(rc) == -2) {{ sl_send_reply("403", "Forbidden"); exit; }}
    if ($var(rc) == -4) {{ www_challenge("$td", "17"); exit; }}
    if ($var(rc) < 0) {{
        {challenge}
        exit;
    }}
    if (!save("location")) {{ sl_reply_error(); }}
    exit;
}}
"#,
            listen = self.listen,
            transports = if self.tcp {
                format!("tcp_children=1\nlisten=tcp:{}", self.listen)
            } else {
                "disable_tcp=yes".to_owned()
            },
            mpath = module_path.display(),
            algorithm = self.algorithm,
            nonce_expire = self.nonce_expire,
            secret = unique_token(),
        )
    }
}

/// A running Kamailio, stopped (with its worker processes) on drop.
struct Kamailio {
    child: Option<Child>,
    dir: PathBuf,
    log_path: PathBuf,
    addr: SocketAddr,
}

impl Kamailio {
    /// Starts Kamailio on `config.listen` (inside `netns` if given) and
    /// waits until it answers OPTIONS.
    fn start(config: &KamailioConfig, netns: Option<&TestNetns>) -> Kamailio {
        let binary = find_on_path("kamailio")
            .or_else(|| Some(PathBuf::from("/usr/sbin/kamailio")).filter(|p| p.is_file()))
            .unwrap_or_else(|| {
                panic!(
                    "kamailio not found: install the Debian package kamailio \
                     (apt-get install -y kamailio; scripts/test.sh does)"
                )
            });
        let module_path = kamailio_module_path();
        let dir = scratch_dir("kamailio");
        let cfg_path = dir.join("kamailio.cfg");
        fs::write(&cfg_path, config.render(&module_path))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", cfg_path.display()));
        let log_path = dir.join("kamailio.log");
        let log = File::create(&log_path).expect("create kamailio.log");
        let log_err = log.try_clone().expect("clone log handle");
        let mut cmd = match netns {
            Some(ns) => ns.command(&binary),
            None => Command::new(&binary),
        };
        cmd.arg("-f")
            .arg(&cfg_path)
            .args(["-DD", "-E", "-m", "32", "-M", "4"])
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(&dir)
            .current_dir(&dir)
            // Its own process group: stopping it reaches every worker.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd.spawn().expect("spawn kamailio");
        let mut kamailio = Kamailio {
            child: Some(child),
            dir,
            log_path,
            addr: config.listen,
        };
        kamailio.wait_ready(netns);
        kamailio
    }

    fn wait_ready(&mut self, netns: Option<&TestNetns>) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let socket = match netns {
            None => Some(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP")),
            Some(_) => None,
        };
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.fail(&format!("kamailio exited during startup with {status}"));
            }
            let options = format!(
                "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:{addr}>\r\n\
                 Call-ID: {id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                addr = self.addr,
                branch = new_branch(),
                id = unique_token(),
            );
            let reply = match (&socket, netns) {
                (Some(s), _) => support::udp_exchange(
                    s,
                    self.addr,
                    options.as_bytes(),
                    Duration::from_millis(300),
                )
                .ok(),
                (None, Some(ns)) => {
                    ns.udp_exchange(self.addr, options.as_bytes(), Duration::from_millis(300))
                }
                (None, None) => None,
            };
            if reply.is_some_and(|r| SipMessage::parse(&r).status() == Some(200)) {
                return;
            }
            if Instant::now() >= deadline {
                self.fail("kamailio does not answer OPTIONS within 15 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Lines of the log with the script's `REQ`/`AUTH` notes containing `pattern`.
    fn script_lines(&self, pattern: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("<script>") && l.contains(pattern))
            .map(str::to_owned)
            .collect()
    }

    #[track_caller]
    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- kamailio log ({}) ---\n{}\n--- end ---",
            self.log_path.display(),
            self.log()
        );
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group (workers included).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("kamailio scratch dir kept: {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The directory holding Kamailio's `auth.so` (multiarch on Debian).
fn kamailio_module_path() -> PathBuf {
    let mut candidates = vec![
        PathBuf::from("/usr/lib/kamailio/modules"),
        PathBuf::from("/usr/local/lib64/kamailio/modules"),
    ];
    if let Ok(entries) = fs::read_dir("/usr/lib") {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("kamailio").join("modules"));
        }
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("auth.so").is_file())
        .unwrap_or_else(|| {
            panic!("Kamailio's modules (auth.so) not found: install the Debian package kamailio")
        })
}

fn loopback_kamailio(algorithm: &'static str) -> Kamailio {
    let config = KamailioConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())),
        algorithm,
    );
    Kamailio::start(&config, None)
}

// ---------------------------------------------------------------------------
// Digest arithmetic: RFC 7616 §3.9.1 known answers
// ---------------------------------------------------------------------------

const MUFASA_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const MUFASA_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const MUFASA_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

#[test]
fn digest_response_matches_rfc7616_mufasa_example_for_md5_and_sha256() {
    let qop = QopAuth {
        nc: 1,
        cnonce: MUFASA_CNONCE.to_owned(),
    };
    let answer = |algorithm| {
        digest_response(
            algorithm,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            MUFASA_NONCE,
            Some(&qop),
        )
    };
    assert_eq!(
        answer(DigestAlgorithm::Md5),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
    assert_eq!(
        answer(DigestAlgorithm::Sha256),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    // RFC 2617 §3.5 (no qop there is RFC 2069 style; this one has qop=auth): the
    // classic example, MD5 of its A1/A2 with the same formula.
    let rfc2617 = digest_response(
        DigestAlgorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(&QopAuth {
            nc: 1,
            cnonce: "0a4f113b".to_owned(),
        }),
    );
    assert_eq!(rfc2617, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc7616_two_challenges_are_parsed_in_order_and_picked_by_algorithm() {
    // The 401 of RFC 7616 §3.9.1: SHA-256 first, then MD5; qop lists two
    // options inside one quoted string.
    let response = SipMessage::parse(
        format!(
            "SIP/2.0 401 Unauthorized\r\n\
             WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, nonce=\"{MUFASA_NONCE}\", opaque=\"{MUFASA_OPAQUE}\"\r\n\
             WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, nonce=\"{MUFASA_NONCE}\", opaque=\"{MUFASA_OPAQUE}\"\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let challenges = challenges_of(&response);
    assert_eq!(challenges.len(), 2);
    assert_eq!(challenges[0].algorithm(), Some(DigestAlgorithm::Sha256));
    assert_eq!(challenges[1].algorithm(), Some(DigestAlgorithm::Md5));
    assert_eq!(challenges[0].param("qop"), Some("auth, auth-int"));
    assert!(challenges[0].offers_qop_auth());
    assert!(!challenges[0].stale());

    for (algorithm, expected) in [
        (
            DigestAlgorithm::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        (DigestAlgorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
    ] {
        let challenge =
            pick_challenge(&challenges, algorithm).expect("challenge of that algorithm");
        let auth = Authorization::compute(
            challenge,
            algorithm,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            MUFASA_CNONCE,
        );
        assert_eq!(auth.response, expected);
        let value = auth.header_value();
        for part in [
            "Digest username=\"Mufasa\"",
            "realm=\"http-auth@example.org\"",
            "uri=\"/dir/index.html\"",
            &format!("response=\"{expected}\""),
            &format!("algorithm={}", algorithm.token()),
            "qop=auth",
            "nc=00000001",
            &format!("cnonce=\"{MUFASA_CNONCE}\""),
            &format!("opaque=\"{MUFASA_OPAQUE}\""),
        ] {
            assert!(value.contains(part), "{part:?} missing from {value}");
        }
        // What we send parses back as the same parameters.
        let reparsed = Challenge::parse(&value, false).expect("our header parses");
        assert_eq!(reparsed.param("response"), Some(expected));
        assert_eq!(reparsed.param("nc"), Some("00000001"));
    }
}

#[test]
fn challenge_parser_handles_escapes_stale_missing_algorithm_and_junk() {
    let c = Challenge::parse(
        r#"digest  realm = "a \"quoted\" realm, with comma" ,nonce="n1",stale=TRUE, qop="auth-int""#,
        true,
    )
    .expect("parses");
    assert_eq!(c.realm(), r#"a "quoted" realm, with comma"#);
    assert_eq!(c.nonce(), "n1");
    assert!(c.stale());
    assert!(c.proxy);
    assert!(!c.offers_qop_auth(), "auth-int alone is not auth");
    assert_eq!(
        c.algorithm(),
        Some(DigestAlgorithm::Md5),
        "absent algorithm means MD5"
    );

    let unknown = Challenge::parse(
        r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#,
        false,
    )
    .expect("parses");
    assert_eq!(unknown.algorithm(), None);
    assert!(pick_challenge(&[unknown], DigestAlgorithm::Sha256).is_none());

    assert!(Challenge::parse(r#"Basic realm="r""#, false).is_err());
    assert!(
        Challenge::parse(r#"Digest realm="r""#, false).is_err(),
        "no nonce"
    );
    assert!(
        Challenge::parse(r#"Digest realm="r, nonce="n""#, false).is_err(),
        "open quote"
    );
}

// ---------------------------------------------------------------------------
// The digest client against Kamailio
// ---------------------------------------------------------------------------

#[test]
fn digest_client_registers_fetches_and_unregisters_with_kamailio_md5() {
    let kamailio = loopback_kamailio("MD5");
    let mut client = DigestClient::new(kamailio.addr, "alice", "secret");
    let contact = client.default_contact();

    let ok = client.register(&contact, 120, DigestAlgorithm::Md5);
    ok.expect_status(200);
    let first = ok.first_response.as_ref().expect("a 401 came first");
    assert_eq!(first.status(), Some(401), "{}", first.raw);
    let auth = ok.authorization.as_ref().expect("credentials sent");
    assert_eq!(auth.qop.as_ref().map(|q| q.nc), Some(1));
    assert!(
        ok.contacts()
            .iter()
            .any(|c| c.contains(&client.local_addr().to_string())),
        "200 lists our binding: {}",
        ok.text()
    );

    // The same nonce again with nc=2: accepted (a client may reuse a nonce).
    let challenge = ok.challenge.clone().expect("challenge");
    let again = client.register_with(Some(&contact), Some(120), &challenge);
    again.expect_status(200);
    assert_eq!(
        again
            .authorization
            .as_ref()
            .and_then(|a| a.qop.as_ref())
            .map(|q| q.nc),
        Some(2)
    );

    let listed = client.fetch_bindings(DigestAlgorithm::Md5);
    listed.expect_status(200);
    assert_eq!(listed.contacts().len(), 1, "{}", listed.text());

    let gone = client.unregister_all(DigestAlgorithm::Md5);
    gone.expect_status(200);
    assert!(
        gone.contacts().is_empty(),
        "no binding left: {}",
        gone.text()
    );
    assert!(
        !kamailio.script_lines("REQ REGISTER").is_empty(),
        "kamailio logged the REGISTERs"
    );
}

#[test]
fn digest_client_registers_with_kamailio_sha256() {
    let kamailio = loopback_kamailio("SHA-256");
    let mut client = DigestClient::new(kamailio.addr, "bob", "b0b-pass");
    let ok = client.register(&client.default_contact(), 60, DigestAlgorithm::Sha256);
    ok.expect_status(200);
    let challenge = ok.challenge.as_ref().expect("challenge");
    assert_eq!(
        challenge.param("algorithm"),
        Some("SHA-256"),
        "{}",
        challenge.raw
    );
    let auth = ok.authorization.as_ref().expect("credentials");
    assert_eq!(auth.response.len(), 64, "SHA-256 response is 64 hex digits");

    // This Kamailio offers SHA-256 only: MD5 credentials for its nonce fail.
    let mut md5 = client.authorize(challenge, "REGISTER");
    md5.algorithm = DigestAlgorithm::Md5;
    md5.response = digest_response(
        DigestAlgorithm::Md5,
        "bob",
        challenge.realm(),
        "b0b-pass",
        "REGISTER",
        &client.request_uri,
        challenge.nonce(),
        md5.qop.as_ref(),
    );
    let refused = client.send_register(
        Some(&client.default_contact()),
        Some(60),
        Some(&md5.header_line()),
    );
    assert_ne!(refused.status(), Some(200), "{}", refused.raw);
}

#[test]
fn kamailio_refuses_replayed_nc_forged_nonce_and_wrong_password() {
    let kamailio = loopback_kamailio("MD5");
    let mut client = DigestClient::new(kamailio.addr, "alice", "secret");
    let contact = client.default_contact();
    let ok = client.register(&contact, 60, DigestAlgorithm::Md5);
    ok.expect_status(200);

    // Replay: a new REGISTER with exactly the same credentials (same nc).
    // Kamailio's nonce_count check calls a used nc stale (rc -4): a 401 with
    // stale=true.
    let auth = ok.authorization.clone().expect("credentials");
    let replayed = client.replay(&auth, Some(&contact), Some(60));
    assert_eq!(
        replayed.status(),
        Some(401),
        "replay refused:\n{}",
        replayed.raw
    );
    assert!(
        challenges_of(&replayed).iter().all(Challenge::stale),
        "{}",
        replayed.raw
    );

    // A nonce Kamailio never issued (rc -1): a fresh challenge, not stale.
    let forged = Challenge::forged(
        &client.domain.clone(),
        "bm90LWlzc3VlZC1ieS1rYW1haWxpbw",
        DigestAlgorithm::Md5,
    );
    let refused = client.register_with(Some(&contact), Some(60), &forged);
    assert_eq!(refused.status, 401, "{}", refused.text());
    let rechallenge = challenges_of(&refused.response);
    assert_eq!(rechallenge.len(), 1, "{}", refused.text());
    assert!(!rechallenge[0].stale(), "{}", refused.text());
    assert_ne!(rechallenge[0].nonce(), forged.nonce());

    // Right nonce, wrong password (rc -2): 403, this configuration's choice.
    let mut wrong = DigestClient::new(kamailio.addr, "alice", "not-the-password");
    let outcome = wrong.register(&wrong.default_contact(), 60, DigestAlgorithm::Md5);
    outcome.expect_status(403);

    // The auth module's verdicts in order: no credentials, ok, replay,
    // forged, no credentials, wrong password.
    let verdicts: Vec<String> = kamailio
        .script_lines("AUTH rc=")
        .iter()
        .filter_map(|l| l.split("rc=").nth(1).map(|v| v.trim().to_owned()))
        .collect();
    assert_eq!(verdicts, ["-5", "1", "-4", "-1", "-5", "-2"]);
}

#[test]
fn kamailio_answers_an_expired_nonce_with_stale_true() {
    let mut config =
        KamailioConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())), "MD5");
    config.nonce_expire = 1;
    let kamailio = Kamailio::start(&config, None);
    let mut client = DigestClient::new(kamailio.addr, "alice", "secret");
    let contact = client.default_contact();
    let ok = client.register(&contact, 60, DigestAlgorithm::Md5);
    ok.expect_status(200);
    let challenge = ok.challenge.clone().expect("challenge");

    thread::sleep(Duration::from_millis(2_100));
    let stale = client.register_with(Some(&contact), Some(60), &challenge);
    assert_eq!(stale.status, 401, "{}", stale.text());
    let fresh = challenges_of(&stale.response);
    assert!(
        fresh.iter().any(Challenge::stale),
        "stale=true expected:\n{}",
        stale.text()
    );
    // The fresh nonce works.
    let fresh = pick_challenge(&fresh, DigestAlgorithm::Md5)
        .expect("MD5 challenge")
        .clone();
    client
        .register_with(Some(&contact), Some(60), &fresh)
        .expect_status(200);
}

#[test]
fn digest_client_picks_md5_when_a_sha256_challenge_comes_first() {
    let mut config =
        KamailioConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())), "MD5");
    config.sha256_decoy_first = true;
    let kamailio = Kamailio::start(&config, None);
    let mut client = DigestClient::new(kamailio.addr, "alice", "secret");
    let ok = client.register(&client.default_contact(), 60, DigestAlgorithm::Md5);
    ok.expect_status(200);
    let first = ok.first_response.as_ref().expect("401");
    let offered: Vec<_> = challenges_of(first)
        .iter()
        .map(Challenge::algorithm)
        .collect();
    assert_eq!(
        offered,
        vec![Some(DigestAlgorithm::Sha256), Some(DigestAlgorithm::Md5)],
        "{}",
        first.raw
    );
    assert_eq!(
        ok.authorization.as_ref().map(|a| a.algorithm),
        Some(DigestAlgorithm::Md5)
    );
}

// ---------------------------------------------------------------------------
// baresip in a network namespace, against Kamailio in the same namespace
// ---------------------------------------------------------------------------

fn netns_kamailio(netns: &TestNetns, configure: impl FnOnce(&mut KamailioConfig)) -> Kamailio {
    let mut config = KamailioConfig::new(netns.server_addr(5060), "MD5");
    configure(&mut config);
    Kamailio::start(&config, Some(netns))
}

fn options_to(uri_user: &str, to: SocketAddr, netns: &TestNetns) -> SipMessage {
    let request = format!(
        "OPTIONS sip:{uri_user}@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {server}:5999;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:qualify@{server}>;tag={tag}\r\n\
         To: <sip:{uri_user}@{to}>\r\n\
         Call-ID: {id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        server = netns.server_ip,
        branch = new_branch(),
        tag = unique_token(),
        id = unique_token(),
    );
    let reply = netns
        .udp_exchange(to, request.as_bytes(), Duration::from_secs(2))
        .unwrap_or_else(|| panic!("no answer from {to} to:\n{request}"));
    SipMessage::parse(&reply)
}

#[test]
fn baresip_registers_refreshes_answers_options_and_unregisters_on_sigterm() {
    let netns = TestNetns::create("baresip-reg");
    let kamailio = netns_kamailio(&netns, |_| {});
    let mut account = BaresipAccount::new("alice", "secret", kamailio.addr);
    account.regint = 2; // refreshes at 90%: every 1.8 s
    let mut phone = Baresip::start(&netns, account);

    let line = phone.wait_registered(Duration::from_secs(10));
    assert!(
        line.contains("200 OK") && line.contains("[1 binding]"),
        "{line}"
    );

    // What it sent, from its own SIP trace and Kamailio's log.
    let contact = phone.registered_contact().expect("a REGISTER in the trace");
    let contact_uri = phone.contact_uri().expect("contact URI");
    assert!(
        contact_uri.starts_with("sip:alice-0x")
            && contact_uri.ends_with(&phone.sip_addr.to_string()),
        "Contact user is alice-0x<hex> at the peer address: {contact}"
    );
    assert!(
        !contact.contains("+sip.instance") && !contact.contains("reg-id"),
        "{contact}"
    );
    let log = phone.log();
    assert!(log.contains("User-Agent: baresip v1.0.0"), "User-Agent");
    assert!(
        log.lines()
            .any(|l| l.starts_with("Via: SIP/2.0/UDP") && l.trim_end().ends_with(";rport")),
        "Via asks for rport"
    );
    let registers = kamailio.script_lines("REQ REGISTER ua=[baresip");
    assert!(
        registers.len() >= 2,
        "challenge, then credentials: {registers:#?}"
    );
    assert!(
        !registers[0].contains("Digest") && registers[1].contains("nc=00000001"),
        "first REGISTER without credentials, then nc=1: {registers:#?}"
    );
    assert!(
        !registers[1].contains("algorithm="),
        "baresip sends no algorithm parameter"
    );

    // Refresh before the 2 s expiry, again from scratch (401 then nc=1).
    phone.wait_for_registrations(2, Duration::from_secs(5));
    let with_nc1 = kamailio.script_lines("nc=00000001").len();
    assert!(with_nc1 >= 2, "each refresh starts over with a new nonce");
    assert!(
        kamailio.script_lines("nc=00000002").is_empty(),
        "never reuses a nonce"
    );

    // Qualify: OPTIONS to the Contact user and to the AOR user get 200, others 404.
    let user = contact_uri
        .strip_prefix("sip:")
        .and_then(|u| u.split('@').next())
        .expect("contact user");
    let reply = options_to(user, phone.sip_addr, &netns);
    assert_eq!(reply.status(), Some(200), "{}", reply.raw);
    assert!(
        reply.expect_header("Server").starts_with("baresip v1.0.0"),
        "{}",
        reply.raw
    );
    assert_eq!(
        options_to("alice", phone.sip_addr, &netns).status(),
        Some(200)
    );
    assert_eq!(
        options_to("nobody", phone.sip_addr, &netns).status(),
        Some(404)
    );

    // The cons port answers commands.
    let reginfo = phone.send_command("/reginfo");
    assert!(
        reginfo.contains("OK") && reginfo.contains("alice@"),
        "/reginfo: {reginfo:?}"
    );

    // SIGTERM: a REGISTER with expires=0, then exit 0.
    let before = kamailio.script_lines("expires=0").len();
    let status = phone.stop().expect("baresip exits by itself on SIGTERM");
    assert!(status.success(), "{status}");
    let after = kamailio.script_lines("expires=0").len();
    assert!(
        after > before,
        "unregistered on SIGTERM:\n{}",
        kamailio.log()
    );
}

#[test]
fn baresip_sigkill_leaves_without_unregistering() {
    let netns = TestNetns::create("baresip-kill");
    let kamailio = netns_kamailio(&netns, |_| {});
    let mut phone = Baresip::start(
        &netns,
        BaresipAccount::new("bob", "b0b-pass", kamailio.addr),
    );
    phone.wait_registered(Duration::from_secs(10));
    let pid = phone.pid().expect("pid");
    assert!(
        netns.pids().contains(&pid),
        "baresip runs inside the namespace"
    );
    phone.kill();
    assert!(!netns.pids().contains(&pid), "gone after SIGKILL");
    thread::sleep(Duration::from_millis(300));
    assert!(
        kamailio.script_lines("expires=0").is_empty(),
        "no unregister:\n{}",
        kamailio.log()
    );
}

#[test]
fn baresip_logs_403_on_a_wrong_password() {
    let netns = TestNetns::create("baresip-403");
    let kamailio = netns_kamailio(&netns, |_| {});
    let mut phone = Baresip::start(&netns, BaresipAccount::new("alice", "wrong", kamailio.addr));
    let line = phone.wait_for_log(": 403 Forbidden", Duration::from_secs(10));
    assert!(line.contains("reg: sip:alice@"), "{line}");
    assert_eq!(phone.count_in_log("binding"), 0, "not registered");
    assert!(phone.is_running(), "a 403 does not end baresip");
}

#[test]
fn baresip_cannot_register_when_a_sha256_challenge_is_offered() {
    // baresip 1.0 (libre 1.1) gives up on the whole 401 when any challenge has
    // an algorithm other than MD5, even with an MD5 one after it. Switchboard
    // sends SHA-256 first, then MD5: this pins down what baresip does then.
    let netns = TestNetns::create("baresip-sha");
    let kamailio = netns_kamailio(&netns, |c| c.sha256_decoy_first = true);
    let mut phone = Baresip::start(
        &netns,
        BaresipAccount::new("alice", "secret", kamailio.addr),
    );
    phone.wait_for_log(
        "Register: Function not implemented",
        Duration::from_secs(10),
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(phone.count_in_log("binding"), 0);
    let registers = kamailio.script_lines("REQ REGISTER");
    assert_eq!(
        registers.len(),
        1,
        "no second REGISTER with credentials: {registers:#?}"
    );
}

#[test]
fn baresip_outbound_account_registers_with_instance_id_and_reg_id_over_tcp() {
    let netns = TestNetns::create("baresip-ob");
    let kamailio = netns_kamailio(&netns, |c| c.tcp = true);
    let mut account = BaresipAccount::new("bob", "b0b-pass", kamailio.addr);
    account.outbound = true;
    account.transport = BaresipTransport::Tcp;
    let mut phone = Baresip::start(&netns, account);
    phone.wait_registered(Duration::from_secs(10));
    let contact = phone.registered_contact().expect("contact");
    assert!(
        contact.contains("+sip.instance=\"<urn:uuid:") && contact.contains("reg-id=1"),
        "{contact}"
    );
    assert!(contact.contains(";transport=tcp>"), "{contact}");
    let register = phone
        .sip_trace()
        .into_iter()
        .find(|t| t.message.start_line.starts_with("REGISTER "))
        .expect("a REGISTER");
    assert!(register.route.starts_with("TCP "), "{}", register.route);
    assert_eq!(
        register.message.header("Supported"),
        Some("gruu, outbound, path"),
        "{}",
        register.message.raw
    );
    assert!(
        register
            .message
            .header("Route")
            .is_some_and(|r| r.contains(&kamailio.addr.to_string())),
        "outbound proxy as Route: {}",
        register.message.raw
    );
}

#[test]
fn netns_isolates_its_addresses_and_cleans_up() {
    let netns = TestNetns::create("isolation");
    let name = netns.name().to_owned();
    let out = netns.run("ip", &["-4", "-o", "addr", "show"], Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out.stdout);
    for addr in [netns.server_ip, netns.peer_ip] {
        assert!(
            text.contains(&format!("{addr}/24")),
            "{addr} configured: {text}"
        );
    }
    // The host namespace does not have them.
    let host = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .expect("ip");
    let host = String::from_utf8_lossy(&host.stdout);
    assert!(!host.contains(&format!("{}/24", netns.server_ip)), "{host}");
    assert_ne!(
        IpAddr::V4(netns.server_ip),
        IpAddr::V4(TestNetns::create("other").server_ip),
        "two namespaces, two subnets"
    );
    // A process started inside dies with the namespace.
    let mut sleeper = netns
        .command("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep in netns");
    // `ip netns exec` enters the namespace after the spawn returns: wait for it (bounded).
    let entered = Instant::now() + Duration::from_secs(3);
    while !netns.pids().contains(&sleeper.id()) {
        assert!(
            Instant::now() < entered,
            "sleep {} never showed in the namespace",
            sleeper.id()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(netns);
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&name),
        "namespace deleted"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    let status = loop {
        if let Some(status) = sleeper.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "process in the namespace still runs"
        );
        thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "killed, not finished: {status}");
}

// ---------------------------------------------------------------------------
// baresip against Switchboard, both in a network namespace
// ---------------------------------------------------------------------------

/// Switchboard in `netns` with `alice`/`secret` provisioned and the
/// `[registrar]` digest algorithms given.
fn netns_switchboard(netns: &TestNetns, digest_algorithms: &str) -> Server {
    let dir = registrar::server_dir("netns-server");
    registrar::provision(&dir, &[("alice", "secret", None)]);
    let config = registrar::write_config(
        &dir,
        &format!("[registrar]\nmin_expires = 60\ndigest_algorithms = {digest_algorithms}\n"),
    );
    Server::start_in_netns(netns, dir, &["--config", &config], &[])
}

#[test]
fn switchboard_in_a_netns_registers_baresip_when_only_md5_is_offered() {
    let netns = TestNetns::create("sb-md5");
    let server = netns_switchboard(&netns, r#"["MD5"]"#);
    assert_eq!(server.sip_addr, netns.server_addr(5060));
    let mut phone = Baresip::start(
        &netns,
        BaresipAccount::new("alice", "secret", server.sip_addr),
    );
    let line = phone.wait_registered(Duration::from_secs(10));
    assert!(
        line.contains("200 OK (Switchboard") && line.contains("[1 binding]"),
        "{line}"
    );

    let resp = server
        .http_get("/api/v1/registrations?aor=alice", Duration::from_secs(5))
        .unwrap_or_else(|e| server.fail(&format!("GET /api/v1/registrations: {e}")));
    assert_eq!(resp.status, 200, "{}", resp.rest);
    let contact_uri = phone.contact_uri().expect("contact");
    assert!(
        resp.rest.contains(&contact_uri),
        "binding of {contact_uri}: {}",
        resp.rest
    );
    assert!(
        resp.rest.contains("baresip v1.0.0"),
        "user agent kept: {}",
        resp.rest
    );
}

#[test]
fn baresip_cannot_register_with_switchboard_offering_sha256_and_md5() {
    // Switchboard's default: SHA-256 first, then MD5. baresip 1.0 gives up
    // on such a 401 (see baresip_cannot_register_when_a_sha256_challenge_is_offered).
    let netns = TestNetns::create("sb-sha");
    let server = netns_switchboard(&netns, r#"["SHA-256", "MD5"]"#);
    let mut phone = Baresip::start(
        &netns,
        BaresipAccount::new("alice", "secret", server.sip_addr),
    );
    phone.wait_for_log(
        "Register: Function not implemented",
        Duration::from_secs(10),
    );
    assert_eq!(phone.count_in_log("binding"), 0);
    let resp = server
        .http_get("/api/v1/registrations?aor=alice", Duration::from_secs(5))
        .unwrap_or_else(|e| server.fail(&format!("GET /api/v1/registrations: {e}")));
    assert!(!resp.rest.contains("baresip"), "no binding: {}", resp.rest);
}
