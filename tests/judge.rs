//! `vaekit judge` end to end, in a real browser: the judge serves its page
//! for a small trained run, headless Chromium (driven through chromedriver
//! with the W3C WebDriver protocol, by the small client below) clicks
//! through every trial — always the left image of a pair, always 4 for a
//! rating — and the answers file, `--summary` and a restarted server must
//! say exactly that. A screenshot taken mid-session is kept in
//! `target/tmp/judge-screenshot.png` to be looked at.
//!
//! Without `chromium` and `chromedriver` the test prints SKIPPED;
//! `.ci/run` installs them (Debian's `chromium chromium-driver`) and sets
//! `VAEKIT_REQUIRE_CHROMIUM=1`, which turns the skip into a failure.

mod common;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TRIALS: usize = 8;
const SEED: u64 = 3;
/// The browser window (the screenshot has its width, and its height less
/// the browser's bars).
const WINDOW: (u32, u32) = (900, 700);
/// Longest wait for anything the page or a process does.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A child process killed and reaped however the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `name` on the PATH.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Chromium and its driver, or None (after saying why) when the test
/// cannot run here; a failure instead when CI requires it.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = program("chromium").or_else(|| program("chromium-browser"));
    let driver = program("chromedriver");
    let why = match (&chromium, &driver) {
        (Some(_), Some(_)) => return Some((chromium.unwrap(), driver.unwrap())),
        (None, _) => "chromium is not installed (apt-get install chromium chromium-driver)",
        (_, None) => "chromedriver is not installed (apt-get install chromium-driver)",
    };
    assert!(
        std::env::var("VAEKIT_REQUIRE_CHROMIUM").is_err(),
        "VAEKIT_REQUIRE_CHROMIUM is set but {why}"
    );
    println!("SKIPPED: {why}; the judge's browser test needs both");
    None
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `f` until it gives a value; panic with `what` after [`TIMEOUT`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 over a TcpStream: what WebDriver and the judge need.

/// The complete response at the start of `raw`: status and body (None
/// while it is incomplete).
fn parse_response(raw: &[u8], closed: bool) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let rest = &raw[end + 4..];
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let (mut body, mut at) = (Vec::new(), 0);
        loop {
            let line_end = at + rest[at..].windows(2).position(|w| w == b"\r\n")?;
            let size_text = String::from_utf8_lossy(&rest[at..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                return Some((status, body));
            }
            body.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
    }
    match header("content-length") {
        Some(n) => {
            let n: usize = n.parse().ok()?;
            Some((status, rest.get(..n)?.to_vec()))
        }
        None => closed.then(|| (status, rest.to_vec())),
    }
}

/// One request to 127.0.0.1:`port`: the status and body of its response.
fn try_http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let (mut raw, mut chunk) = (Vec::new(), [0u8; 65536]);
    loop {
        let k = s.read(&mut chunk)?;
        raw.extend_from_slice(&chunk[..k]);
        if let Some(r) = parse_response(&raw, k == 0) {
            return Ok(r);
        }
        if k == 0 {
            return Err(std::io::Error::other("the connection closed mid-response"));
        }
    }
}

/// [`try_http`], failing the test on an error.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
    try_http(port, method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path} on 127.0.0.1:{port}: {e}"))
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Standard base64 (WebDriver's screenshots).
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &d)| acc | (d as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..group.len()]);
    }
    out
}

// ---------------------------------------------------------------------------
// A W3C WebDriver client: the handful of commands the test sends.

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    port: u16,
    session: String,
}

impl Browser {
    /// A headless Chromium session through the chromedriver on `port`.
    fn start(port: u16, chromium: &Path) -> Self {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage",
                         format!("--window-size={},{}", WINDOW.0, WINDOW.1)],
            },
        }}});
        let (status, body) = http(port, "POST", "/session", Some(&caps));
        let v = json_of(&body);
        assert_eq!(status, 200, "new session: {v}");
        Browser {
            port,
            session: v["value"]["sessionId"]
                .as_str()
                .expect("a session id")
                .to_string(),
        }
    }

    /// A command on the session: its `value`, or WebDriver's error.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("/session/{}{path}", self.session);
        let (status, raw) = http(self.port, method, &url, body.as_ref());
        let v = json_of(&raw);
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(format!("{method} {path}: {status} {}", v["value"]))
        }
    }

    fn goto(&self, url: &str) {
        self.send("POST", "/url", Some(json!({ "url": url })))
            .unwrap();
    }

    /// The element `css` selects, if it exists now.
    fn find(&self, css: &str) -> Option<String> {
        let v = self
            .send(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        v[ELEMENT].as_str().map(str::to_string)
    }

    /// The rendered text of `css` ("" when hidden or absent).
    fn text(&self, css: &str) -> String {
        self.find(css)
            .and_then(|id| self.send("GET", &format!("/element/{id}/text"), None).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn click(&self, css: &str) {
        let id = self.find(css).unwrap_or_else(|| panic!("no element {css}"));
        self.send("POST", &format!("/element/{id}/click"), Some(json!({})))
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The viewport as PNG bytes.
    fn screenshot(&self) -> Vec<u8> {
        let v = self.send("GET", "/screenshot", None).unwrap();
        base64_decode(v.as_str().expect("a base64 screenshot"))
    }

    /// The value of a JavaScript function body run in the page.
    fn script(&self, body: &str) -> Value {
        self.send(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": []})),
        )
        .unwrap()
    }

    /// The size of the page's viewport in device pixels, which a
    /// screenshot has: the window less the browser's own bars.
    fn viewport(&self) -> (u32, u32) {
        let v = self.script(
            "return [Math.round(window.innerWidth * window.devicePixelRatio), \
                     Math.round(window.innerHeight * window.devicePixelRatio)]",
        );
        let px = |i: usize| v[i].as_u64().expect("a size") as u32;
        (px(0), px(1))
    }

    /// Wait until `css` shows exactly `want`; the failure names what the
    /// page shows instead.
    fn wait_text(&self, css: &str, want: &str) {
        let t0 = Instant::now();
        loop {
            let got = self.text(css);
            if got == want {
                return;
            }
            assert!(
                t0.elapsed() < TIMEOUT,
                "waited for {css} = {want:?}; it shows {got:?}; #error: {:?}",
                self.text("#error")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    /// Close the browser (chromedriver's own child) before chromedriver is killed.
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = try_http(self.port, "DELETE", &path, None);
    }
}

// ---------------------------------------------------------------------------

/// Start `vaekit judge RUN EXTRA…` and read the URL from its first line.
fn start_judge(run: &Path, extra: &[&str]) -> (Guard, String, u16) {
    let mut child = common::bin()
        .arg("judge")
        .arg(run)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vaekit judge");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Keep reading so the judge never writes into a closed pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        other => panic!("vaekit judge printed no URL: {other:?}"),
    };
    let url = line
        .strip_prefix("vaekit judge: open ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_string();
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {url}"));
    (guard, url, port)
}

/// Check the screenshot: a PNG of the page's viewport (`viewport`, the
/// window's width), not blank.
fn check_screenshot(png: &[u8], viewport: (u32, u32)) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("judge-screenshot.png");
    std::fs::write(&path, png).unwrap();
    println!("screenshot of a 2AFC trial: {}", path.display());
    let img = image::load_from_memory(png)
        .expect("the screenshot is a PNG")
        .to_rgb8();
    assert_eq!(img.dimensions(), viewport, "screenshot size");
    assert_eq!(img.width(), WINDOW.0, "screenshot width");
    assert!(img.height() > WINDOW.1 / 2 && img.height() <= WINDOW.1);
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() >= 16,
        "{} distinct colours: a blank page?",
        colours.len()
    );
}

/// Check every line of `answers.jsonl` against what was clicked; the
/// number of correct 2AFC answers.
fn check_answers(run: &Path) -> usize {
    let text = std::fs::read_to_string(run.join("judge/answers.jsonl")).unwrap();
    let lines: Vec<Value> = text.lines().map(json_of_str).collect();
    assert_eq!(lines.len(), TRIALS, "{text}");
    let (mut kinds, mut correct) = ([0usize; 3], 0);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["trial"], i, "{l}");
        assert_eq!(l["seed"], SEED, "{l}");
        let time = l["time"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("{time}: {e}"));
        assert_eq!(time.as_bytes()[19], b'.', "{time}: milliseconds expected");
        assert!(time[20..23].bytes().all(|b| b.is_ascii_digit()), "{time}");
        assert!(l["response_ms"].as_u64().is_some(), "{l}");
        let images: Vec<&str> = l["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        match l["kind"].as_str().unwrap() {
            "2afc" => {
                kinds[0] += 1;
                assert_eq!(l["choice"], "left", "{l}");
                let side = l["real_side"].as_str().unwrap();
                assert!(side == "left" || side == "right", "{l}");
                assert_eq!(l["correct"], side == "left", "{l}");
                correct += (side == "left") as usize;
                assert_eq!(images.len(), 2, "{l}");
                let real_at = if side == "left" { 0 } else { 1 };
                assert!(images[real_at].starts_with("real-"), "{l}");
                assert!(images[1 - real_at].starts_with("sample-"), "{l}");
                assert!(l.get("rating").is_none(), "{l}");
            }
            "realism" => {
                kinds[1] += 1;
                assert_eq!(l["rating"], 4, "{l}");
                let shown = l["shown"].as_str().unwrap();
                assert_eq!(images.len(), 1, "{l}");
                assert!(images[0].starts_with(&format!("{shown}-")), "{l}");
            }
            "diversity" => {
                kinds[2] += 1;
                assert_eq!(l["rating"], 4, "{l}");
                assert_eq!(images.len(), 16, "{l}");
                assert!(images.iter().all(|s| s.starts_with("sample-")), "{l}");
            }
            k => panic!("kind {k}: {l}"),
        }
    }
    // One block of `--mode both`: 4 pairs, 3 realism ratings, 1 grid.
    assert_eq!(kinds, [4, 3, 1], "{text}");
    correct
}

fn json_of_str(s: &str) -> Value {
    json_of(s.as_bytes())
}

#[test]
fn a_person_clicking_through_the_judge_page_is_recorded_and_summarized() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let o = common::vaekit(
        &[
            "train",
            "--out",
            "run",
            "--set",
            "data.synthetic_size=600",
            "--set",
            "train.epochs=1",
            "--set",
            "model.latent_dim=4",
            "--set",
            "model.hidden=[64]",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", common::text(&o));
    let run = tmp.path().join("run");

    let seed = SEED.to_string();
    let trials = TRIALS.to_string();
    let flags = ["--port", "0", "--trials", &trials, "--seed", &seed];
    let (judge, url, _) = start_judge(&run, &flags);

    let driver_port = free_port();
    let log = std::fs::File::create(tmp.path().join("chromedriver.log")).unwrap();
    let _driver = Guard(
        std::process::Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start chromedriver"),
    );
    wait_for("chromedriver to be ready", || {
        let (_, body) = try_http(driver_port, "GET", "/status", None).ok()?;
        json_of(&body)["value"]["ready"].as_bool()?.then_some(())
    });
    let browser = Browser::start(driver_port, &chromium);

    // Click through every trial: the left image of each pair, 4 for each rating.
    browser.goto(&url);
    let mut screenshot = None;
    for i in 1..=TRIALS {
        // "trial i of N" appears once the trial's images are loaded and its buttons enabled.
        browser.wait_text("#progress", &format!("trial {i} of {TRIALS}"));
        let pair = browser.text("#prompt") == "Which image is real?";
        if pair && screenshot.is_none() {
            screenshot = Some((browser.screenshot(), browser.viewport()));
        }
        browser.click(if pair { "#left" } else { "#rate-4" });
    }
    browser.wait_text("#progress", &format!("all {TRIALS} trials answered"));
    assert!(browser.text("#done").contains("all 8 trials are answered"));
    let (png, viewport) = screenshot.expect("a 2AFC trial was shown");
    check_screenshot(&png, viewport);

    let correct = check_answers(&run);

    // The summary agrees with the file.
    let o = common::vaekit(&["judge", run.to_str().unwrap(), "--summary"], tmp.path());
    assert!(o.status.success(), "{}", common::text(&o));
    println!("{}", common::text(&o));
    assert!(common::text(&o).contains(&format!("{correct} of 4 correct")));
    let s = json_of(&std::fs::read(run.join("judge/summary.json")).unwrap());
    assert_eq!(s["n_answers"], TRIALS);
    let t = &s["two_afc"];
    assert_eq!(
        (t["n"].as_u64(), t["correct"].as_u64()),
        (Some(4), Some(correct as u64))
    );
    let acc = t["accuracy"].as_f64().unwrap();
    assert!((acc - correct as f64 / 4.0).abs() < 1e-12, "{t}");
    assert!(t["ci95_low"].as_f64().unwrap() <= acc && acc <= t["ci95_high"].as_f64().unwrap());
    assert!(t["p_value_vs_chance"].as_f64().unwrap() > 0.0);
    for key in ["realism_samples", "realism_real", "diversity"] {
        assert_eq!(s[key]["mean"].as_f64(), Some(4.0), "{key}: {s}");
    }

    // A restart on the finished session: nothing left, the page says done,
    // and neither a repeated nor an extra answer adds a line.
    drop(judge);
    let (_judge, url, port) = start_judge(&run, &flags);
    let (status, body) = http(port, "GET", "/trial", None);
    assert_eq!(
        (status, json_of(&body)["done"].as_bool()),
        (200, Some(true))
    );
    browser.goto(&url);
    browser.wait_text("#progress", &format!("all {TRIALS} trials answered"));
    assert!(browser.text("#done").contains("all 8 trials are answered"));
    let (status, body) = http(
        port,
        "POST",
        "/answer",
        Some(&json!({"trial": TRIALS - 1, "rating": 4, "response_ms": 5})),
    );
    assert_eq!(
        (status, json_of(&body)["recorded"].as_bool()),
        (200, Some(false))
    );
    let (status, _) = http(
        port,
        "POST",
        "/answer",
        Some(&json!({"trial": TRIALS, "choice": "left", "response_ms": 5})),
    );
    assert_eq!(status, 409);
    let lines = std::fs::read_to_string(run.join("judge/answers.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), TRIALS);

    // Continuing with another seed would mix two sequences: refused, saying which.
    let o = common::vaekit(
        &["judge", run.to_str().unwrap(), "--port", "0", "--seed", "4"],
        tmp.path(),
    );
    common::assert_clean_error(&o, &["--seed 3", "move"]);
}
