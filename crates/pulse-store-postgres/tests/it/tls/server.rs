//! A throwaway PostgreSQL cluster with TLS on, for the TLS tests: its own certificate authority,
//! a certificate for `localhost` only, and `pg_hba.conf` rules that demand TLS of one role and
//! refuse it to another. Started on a free port, stopped and deleted when the last test using it
//! drops it.
//!
//! Certificates come from `rcgen` rather than the `openssl` command: nothing outside Cargo to
//! install, and no dependence on an `openssl` version's flags or configuration file.
//! Finding the server binaries and running them as `postgres` under root follows
//! `xtask/src/pg.rs`, which the tests cannot depend on.

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, Weak};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// The superuser: reaches the server over TLS only, with [`PASSWORD`].
pub(crate) const TLS_USER: &str = "postgres";
/// A second superuser: reaches the server in plain text only, without a password.
pub(crate) const PLAIN_USER: &str = "plain_only";
/// The superuser's password.
pub(crate) const PASSWORD: &str = "Pulse-TLS-Sw0rdf1sh";

/// The OS user the server runs as when the tests run as root (PostgreSQL refuses root).
const OS_USER: &str = "postgres";

const HOW_TO_GET_ONE: &str = "no PostgreSQL server binaries found (looked for initdb and pg_ctl in \
     /usr/lib/postgresql/*/bin, in `pg_config --bindir` and on PATH). The TLS tests start a PostgreSQL \
     server of their own: install one, e.g. `apt-get install postgresql` (Debian/Ubuntu) or \
     `brew install postgresql@15`.";

/// A running cluster with TLS. Dropping it stops the server and deletes its directory.
pub(crate) struct TlsServer {
    bindir: PathBuf,
    /// `Some("postgres")` when the tests run as root.
    run_as: Option<&'static str>,
    data: PathBuf,
    port: u16,
    /// The CA that signed the server's certificate.
    pub(crate) ca: PathBuf,
    /// A CA that signed nothing the server presents.
    pub(crate) other_ca: PathBuf,
    /// Holds everything; deleted last.
    dir: Option<TempDir>,
}

impl TlsServer {
    /// The server every running test shares: started by the first, stopped when the last
    /// drops it.
    pub(crate) fn shared() -> Arc<Self> {
        static CURRENT: Mutex<Weak<TlsServer>> = Mutex::new(Weak::new());
        let mut current = CURRENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(server) = current.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start());
        *current = Arc::downgrade(&server);
        server
    }

    /// The server's port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    fn start() -> Self {
        let bindir = find_bindir().unwrap_or_else(|| panic!("{HOW_TO_GET_ONE}"));
        let owner = running_as_root().then(postgres_ids);
        let dir = tempfile::Builder::new().prefix("pulse-tls-pg-").tempdir().expect("a temporary directory");
        let path = dir.path().to_owned();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("give the directory to postgres");
        }
        let mut server = Self {
            bindir,
            run_as: owner.map(|_| OS_USER),
            data: path.join("data"),
            port: 0,
            ca: path.join("ca.pem"),
            other_ca: path.join("other-ca.pem"),
            dir: Some(dir),
        };
        let (server_cert, server_key) = (path.join("server.crt"), path.join("server.key"));
        write_certificates(&server.ca, &server.other_ca, &server_cert, &server_key, owner);
        server.init(&path, &server_cert, &server_key);
        server.launch(&path);
        let created = server
            .command("createuser", &path)
            .args(["--superuser", "--host"])
            .arg(&server.data)
            .arg(format!("--port={}", server.port))
            .args(["--username", TLS_USER, PLAIN_USER])
            .output()
            .expect("run createuser");
        check(&created, "createuser");
        server
    }

    /// A program of the server's, run as `postgres` when the tests run as root, from `cwd`.
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(self.bindir.join(program));
                command
            }
            None => Command::new(self.bindir.join(program)),
        };
        command.current_dir(cwd).stdin(Stdio::null());
        command
    }

    fn init(&self, dir: &Path, cert: &Path, key: &Path) {
        let password_file = dir.join("password");
        write(&password_file, PASSWORD, self.run_as.map(|_| postgres_ids()));
        let out = self
            .command("initdb", dir)
            .arg("--pgdata")
            .arg(&self.data)
            .args(["--username", TLS_USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .expect("run initdb");
        check(&out, "initdb");
        fs::remove_file(&password_file).expect("remove the password file");

        let quoted = |path: &Path| format!("'{}'", path.display().to_string().replace('\'', "''"));
        let settings = format!(
            "\n# Added by the TLS tests (throwaway cluster).\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {}\n\
             ssl = on\n\
             ssl_cert_file = {}\n\
             ssl_key_file = {}\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
            quoted(&self.data),
            quoted(cert),
            quoted(key),
        );
        append(&self.data.join("postgresql.conf"), &settings);
        // Replaces initdb's rules: the superuser over TLS only and with its password, the other
        // role in plain text only; the Unix socket (for createuser) trusts everyone.
        let rules = format!(
            "local all all trust\n\
             hostssl all {TLS_USER} 127.0.0.1/32 scram-sha-256\n\
             hostnossl all {PLAIN_USER} 127.0.0.1/32 trust\n"
        );
        fs::write(self.data.join("pg_hba.conf"), rules).expect("write pg_hba.conf");
    }

    /// Starts the server on a free port; tries another port if that one was taken meanwhile.
    fn launch(&mut self, dir: &Path) {
        const ATTEMPTS: u32 = 3;
        let log = dir.join("postgres.log");
        for attempt in 1..=ATTEMPTS {
            self.port = free_port();
            // `--wait` returns once the server accepts connections, or fails after the timeout.
            let out = self
                .command("pg_ctl", dir)
                .arg("--pgdata")
                .arg(&self.data)
                .arg("--log")
                .arg(&log)
                .args(["--wait", "--timeout=60", "-o"])
                .arg(format!("-p {}", self.port))
                .arg("start")
                .output()
                .expect("run pg_ctl start");
            if out.status.success() {
                return;
            }
            let server_log = fs::read_to_string(&log).unwrap_or_default();
            if attempt == ATTEMPTS || !server_log.contains("could not bind") {
                check(&out, &format!("pg_ctl start (server log:\n{server_log})"));
            }
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let stopped = self
            .command("pg_ctl", dir.path())
            .arg("--pgdata")
            .arg(&self.data)
            .args(["--mode=immediate", "--wait", "--timeout=30", "stop"])
            .output();
        if self.data.join("postmaster.pid").exists() {
            // Deleting the files of a live server would be worse than leaving them.
            let kept = dir.keep();
            eprintln!("could not stop the TLS test server ({stopped:?}); left {} in place", kept.display());
        }
    }
}

/// Writes a CA, a server certificate for `localhost` signed by it with its key, and a second,
/// unrelated CA. The key belongs to `owner` when given and only its owner may read it, as
/// PostgreSQL demands.
fn write_certificates(ca: &Path, other_ca: &Path, cert: &Path, key: &Path, owner: Option<(u32, u32)>) {
    let (ca_pem, issuer) = certificate_authority("Pulse test CA");
    let (other_pem, _) = certificate_authority("Pulse test CA (unrelated)");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("a valid name");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    params.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    let server_key = KeyPair::generate().expect("a key pair");
    let server_cert = params.signed_by(&server_key, &issuer).expect("sign the server certificate");
    write(ca, &ca_pem, None);
    write(other_ca, &other_pem, None);
    write(cert, &server_cert.pem(), owner);
    write(key, &server_key.serialize_pem(), owner);
    fs::set_permissions(key, fs::Permissions::from_mode(0o600)).expect("restrict the key");
}

/// A self-signed CA named `name`: its certificate in PEM, and what signs with it.
fn certificate_authority(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::new()).expect("no names");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages.extend([KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]);
    let key = KeyPair::generate().expect("a key pair");
    let pem = params.self_signed(&key).expect("self-sign the CA").pem();
    (pem, Issuer::new(params, key))
}

/// Writes `text` to `path`, owned by `owner` when given.
fn write(path: &Path, text: &str, owner: Option<(u32, u32)>) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("give the file to postgres");
    }
}

fn append(path: &Path, text: &str) {
    let old = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    fs::write(path, old + text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory with `initdb` and `pg_ctl`, as `cargo xtask test` finds it: version 15 if
/// installed, else the newest, else `pg_config --bindir`, else PATH.
fn find_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((major, bin))
        })
        .collect();
    versions.sort_by_key(|&(major, _)| (major != 15, std::cmp::Reverse(major)));
    if let Some((_, bin)) = versions.into_iter().next() {
        return Some(bin);
    }
    let from_pg_config = Command::new("pg_config").arg("--bindir").output().ok().and_then(|out| {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (out.status.success() && has_server(&bin)).then_some(bin)
    });
    from_pg_config.or_else(|| {
        std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_server(dir)))
    })
}

fn running_as_root() -> bool {
    // /proc/self belongs to the effective user of the process reading it.
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Uid and gid of the `postgres` OS user.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, OS_USER]).output().expect("run id");
        assert!(
            out.status.success(),
            "running as root, so the PostgreSQL server must run as the `{OS_USER}` OS user, which does \
             not exist (installing the postgresql package creates it)"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}
