//! What the TLS clients (the registry client, the producer's gRPC transport) share: reading a
//! private CA file, and saying why a handshake failed in words an operator can act on.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The certificates of a PEM `ca_file`; an unreadable file or one without a certificate is an
/// error (naming the file), so that a wrong path is found at start-up, not at the first handshake.
pub fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no usable PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The rustls error somewhere in `e`'s causes, said for an operator; `peer` names the server
/// ("the registry"). rustls errors travel inside (possibly nested) `io::Error`s, whose `source()`
/// skips the error they wrap, so each is opened.
pub fn handshake_failure(e: &(dyn std::error::Error + 'static), peer: &str) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(match tls {
                rustls::Error::InvalidCertificate(_) => format!(
                    "{peer}'s certificate is not trusted ({tls}); set ca_file to the PEM file of the CA \
                     that signed it, or add that CA to the system's roots"
                ),
                _ => tls.to_string(),
            });
        }
        cause = match c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    None
}
