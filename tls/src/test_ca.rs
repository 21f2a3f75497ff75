//! A private certificate authority for tests (feature `test-ca`): it issues `localhost` certificates
//! and writes them where a server under test reads its `[tls]` files, as a renewal would.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};

use crate::TlsConfig;

/// A CA made in process; clients trust [`TestCa::pem`].
pub struct TestCa {
    /// The CA's certificate, PEM: what a client is given as its private root.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("a P-256 key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Subject names of their own: OpenSSL takes a leaf whose issuer is its subject as self-signed.
        params.distinguished_name = name("Murron test CA");
        let pem = params.self_signed(&key).expect("self-signed CA").pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `localhost` and 127.0.0.1 signed by this CA, and its key: (cert, key) as PEM.
    pub fn issue(&self) -> (String, String) {
        let key = KeyPair::generate().expect("a P-256 key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("leaf parameters");
        params.distinguished_name = name("localhost");
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        (cert.pem(), key.serialize_pem())
    }

    /// Issues a pair and writes it as `dir/tls.crt` and `dir/tls.key`, each replaced by a rename as
    /// an atomic writer would; returns the `[tls]` settings that name them (reload every 0.2 s).
    pub fn write_pair(&self, dir: &Path) -> TlsConfig {
        std::fs::create_dir_all(dir).expect("certificate directory");
        let (cert, key) = self.issue();
        let config = TlsConfig {
            cert_file: dir.join("tls.crt"),
            key_file: dir.join("tls.key"),
            reload_secs: 0.2,
        };
        for (path, pem) in [(&config.cert_file, cert), (&config.key_file, key)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, pem).expect("write PEM");
            std::fs::rename(&tmp, path).expect("rename PEM");
        }
        config
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
