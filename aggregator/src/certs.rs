//! A development PKI for trials and tests (`certs init`, `certs node`). Production uses the
//! operator's own PKI: the aggregator only needs a CA file, its certificate and key.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Making certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("node name {0:?} is not a valid DNS name")]
    BadName(String),
}

fn write(dir: &Path, name: &str, contents: &str, private: bool) -> Result<(), CertsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let io = |source| CertsError::Io {
        path: path.clone(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&path)
        .map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

/// Writes `ca.pem`, `ca-key.pem`, `aggregator.pem` and `aggregator-key.pem` into `out`; the
/// server certificate names `localhost`, `127.0.0.1` and `::1` plus `extra_names`.
pub fn init(out: &Path, extra_names: &[String]) -> Result<(), CertsError> {
    std::fs::create_dir_all(out).map_err(|source| CertsError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "hvscope development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca, 3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    write(out, "ca.pem", &ca_cert.pem(), false)?;
    write(out, "ca-key.pem", &ca_key.serialize_pem(), true)?;

    let issuer = Issuer::new(ca, ca_key);
    write_server(&issuer, out, extra_names, 825)
}

fn write_server(
    issuer: &Issuer<'_, KeyPair>,
    out: &Path,
    extra_names: &[String],
    days: i64,
) -> Result<(), CertsError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(names)?;
    p.distinguished_name
        .push(DnType::CommonName, "hvscope-aggregator");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut p, days);
    let cert = p.signed_by(&key, issuer)?;
    write(out, "aggregator.pem", &cert.pem(), false)?;
    write(out, "aggregator-key.pem", &key.serialize_pem(), true)?;
    Ok(())
}

fn load_issuer(ca_dir: &Path) -> Result<Issuer<'static, KeyPair>, CertsError> {
    let read = |f: &str| {
        let path = ca_dir.join(f);
        std::fs::read_to_string(&path).map_err(|source| CertsError::Io { path, source })
    };
    let ca_key = KeyPair::from_pem(&read("ca-key.pem")?)?;
    Ok(Issuer::from_ca_cert_pem(&read("ca.pem")?, ca_key)?)
}

/// Re-issues `aggregator.pem`/`aggregator-key.pem` in `out` from the CA in `ca_dir` (renewal),
/// valid `days`.
pub fn server(
    ca_dir: &Path,
    out: &Path,
    extra_names: &[String],
    days: i64,
) -> Result<(), CertsError> {
    let issuer = load_issuer(ca_dir)?;
    write_server(&issuer, out, extra_names, days)
}

/// Writes `<name>.pem` and `<name>-key.pem` into `out`: a client certificate whose DNS SAN and
/// CN are `name`, signed by the CA in `ca_dir` (`ca.pem`, `ca-key.pem`), valid `days`.
pub fn node(ca_dir: &Path, name: &str, out: &Path, days: i64) -> Result<(), CertsError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid {
        return Err(CertsError::BadName(name.to_owned()));
    }
    let issuer = load_issuer(ca_dir)?;
    std::fs::create_dir_all(out).map_err(|source| CertsError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(vec![name.to_owned()])?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut p, days);
    let cert = p.signed_by(&key, &issuer)?;
    write(out, &format!("{name}.pem"), &cert.pem(), false)?;
    write(out, &format!("{name}-key.pem"), &key.serialize_pem(), true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvscope_common::tls::{TlsFiles, cert_info, load_certs};

    #[test]
    fn init_and_node_make_a_working_pair() {
        let dir = std::env::temp_dir().join(format!("hvscope-certs-{}", std::process::id()));
        init(&dir, &[]).unwrap();
        node(&dir, "node-a", &dir, 30).unwrap();
        let leaf = load_certs(&dir.join("node-a.pem")).unwrap();
        let info = cert_info(&leaf[0]).unwrap();
        assert_eq!(info.name.as_deref(), Some("node-a"));
        let server = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("aggregator.pem"),
            key: dir.join("aggregator-key.pem"),
        };
        server.server_config().unwrap();
        let client = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("node-a.pem"),
            key: dir.join("node-a-key.pem"),
        };
        client.client_config().unwrap();
        assert!(node(&dir, "bad name", &dir, 1).is_err());
        assert!(node(&dir, "", &dir, 1).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
