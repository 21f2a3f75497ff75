//! `sink-worker iceberg-rest`: a read-only [Iceberg REST catalog](https://iceberg.apache.org/spec/#iceberg-rest-catalog)
//! over the tables of the pipeline's Iceberg outputs, so that an engine can attach with a bearer token
//! instead of the state database's credentials. It serves the catalog's namespaces, table lists and
//! each table's current metadata (read from the output's store); every change is refused. Engines read
//! the data files with their own storage credentials.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use murron_tls::Protocol;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::config::Config;
use crate::config::pipeline::OutputConfig;
use crate::output::iceberg::table_store::TableStore;
use crate::state::iceberg_catalog::{self, TableIdent};
use crate::state::{self, StateError};
use crate::storage::StoreError;

/// Why the catalog could not start.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error(transparent)]
    Tls(#[from] murron_tls::TlsError),
}

/// What the handlers share.
#[derive(Debug)]
struct Catalog {
    pool: PgPool,
    name: String,
    /// Each served namespace and where its tables' files are.
    namespaces: BTreeMap<String, TableStore>,
    token: String,
}

/// Serves the catalog until `shutdown` completes.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RestError> {
    let catalog = open(config).await?;
    let listen = config.iceberg_rest.listen;
    let listener = murron_tls::bind(listen, config.tls.as_ref(), Protocol::Http1).await?;
    let addr = listener.local_addr();
    tracing::info!(%addr, scheme = listener.scheme(), catalog = %catalog.name, namespaces = ?catalog.namespaces.keys().collect::<Vec<_>>(),
        "read-only Iceberg REST catalog listening");
    axum::serve(listener, router(Arc::new(catalog)))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| RestError::Listen(addr, e))
}

async fn open(config: &Config) -> Result<Catalog, RestError> {
    if config.iceberg_rest.token.is_empty() {
        return Err(RestError::Config(
            "iceberg_rest.token is empty: set SINK_WORKER_ICEBERG_REST__TOKEN (the catalog is never served open)"
                .into(),
        ));
    }
    let pipeline = config.pipeline.as_ref().ok_or_else(|| {
        RestError::Config("no [pipeline] in the configuration: the catalog serves its Iceberg outputs".into())
    })?;
    let mut name = None;
    let mut namespaces = BTreeMap::new();
    for output in &pipeline.outputs {
        let OutputConfig::Iceberg(c) = output else { continue };
        if name.get_or_insert_with(|| c.catalog.clone()) != &c.catalog {
            return Err(RestError::Config(format!(
                "the pipeline's Iceberg outputs name two catalogs ({} and {}); one catalog is served",
                name.unwrap_or_default(),
                c.catalog
            )));
        }
        namespaces.insert(c.namespace.clone(), TableStore::open(c).await?);
    }
    let name = name.ok_or_else(|| RestError::Config("the pipeline has no Iceberg output to serve".into()))?;
    Ok(Catalog {
        pool: state::connect(&config.state).await?,
        name,
        namespaces,
        token: config.iceberg_rest.token.clone(),
    })
}

fn router(catalog: Arc<Catalog>) -> Router {
    let api = Router::new()
        .route("/v1/config", get(config_route))
        .route("/v1/namespaces", get(list_namespaces).fallback(read_only))
        .route("/v1/namespaces/{namespace}", get(load_namespace).fallback(read_only))
        .route(
            "/v1/namespaces/{namespace}/tables",
            get(list_tables).fallback(read_only),
        )
        .route(
            "/v1/namespaces/{namespace}/tables/{table}",
            get(load_table).fallback(read_only),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(catalog.clone(), authorize))
        .with_state(catalog);
    Router::new().route("/healthz", get(|| async { "ok" })).merge(api)
}

/// The REST spec's error body.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "code": status.as_u16()}});
    (status, axum::Json(body)).into_response()
}

async fn authorize(State(catalog): State<Arc<Catalog>>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if same(token.as_bytes(), catalog.token.as_bytes()) => next.run(request).await,
        Some(_) => error(
            StatusCode::UNAUTHORIZED,
            "NotAuthorizedException",
            "the bearer token is not valid",
        ),
        None => error(
            StatusCode::UNAUTHORIZED,
            "NotAuthorizedException",
            "a bearer token is required (Authorization: Bearer …)",
        ),
    }
}

/// Compares in time independent of where the bytes differ, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_only(method: Method) -> Response {
    error(
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        format!("{method} refused: this catalog is read-only; the sink alone writes its tables"),
    )
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchResourceException",
        "no such endpoint in this catalog",
    )
}

async fn config_route() -> Response {
    axum::Json(json!({"defaults": {}, "overrides": {}})).into_response()
}

async fn list_namespaces(State(catalog): State<Arc<Catalog>>) -> Response {
    let namespaces: Vec<Value> = catalog.namespaces.keys().map(|n| json!([n])).collect();
    axum::Json(json!({"namespaces": namespaces})).into_response()
}

fn no_namespace(namespace: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchNamespaceException",
        format!("namespace {namespace} is not served here"),
    )
}

async fn load_namespace(State(catalog): State<Arc<Catalog>>, Path(namespace): Path<String>) -> Response {
    if !catalog.namespaces.contains_key(&namespace) {
        return no_namespace(&namespace);
    }
    axum::Json(json!({"namespace": [namespace], "properties": {}})).into_response()
}

async fn list_tables(State(catalog): State<Arc<Catalog>>, Path(namespace): Path<String>) -> Response {
    if !catalog.namespaces.contains_key(&namespace) {
        return no_namespace(&namespace);
    }
    let tables = match catalog.pool.acquire().await {
        Ok(mut conn) => iceberg_catalog::tables(&mut conn, &catalog.name, &namespace).await,
        Err(e) => Err(StateError::from(e)),
    };
    match tables {
        Ok(tables) => {
            let identifiers: Vec<Value> = tables
                .iter()
                .map(|(name, _)| json!({"namespace": [namespace], "name": name}))
                .collect();
            axum::Json(json!({"identifiers": identifiers})).into_response()
        }
        Err(e) => unavailable(e),
    }
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "the catalog could not answer");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableException",
        format!("the catalog's state is unavailable: {e}"),
    )
}

async fn load_table(State(catalog): State<Arc<Catalog>>, Path((namespace, table)): Path<(String, String)>) -> Response {
    let Some(ns) = catalog.namespaces.get(&namespace) else {
        return no_namespace(&namespace);
    };
    let ident = TableIdent {
        catalog: catalog.name.clone(),
        namespace: namespace.clone(),
        table: table.clone(),
    };
    let location = match catalog.pool.acquire().await {
        Ok(mut conn) => iceberg_catalog::metadata_location(&mut conn, &ident, false).await,
        Err(e) => Err(StateError::from(e)),
    };
    let location = match location {
        Ok(Some(location)) => location,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchTableException",
                format!("table {namespace}.{table} does not exist"),
            );
        }
        Err(e) => return unavailable(e),
    };
    let key = match ns.key(&location) {
        Ok(key) => key,
        Err(e) => return unavailable(e),
    };
    let metadata: Value = match ns.store.get(key).await.map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(metadata)) => metadata,
        Ok(Err(e)) => return unavailable(format!("{location} does not parse: {e}")),
        Err(e) => return unavailable(e),
    };
    axum::Json(json!({"metadata-location": location, "metadata": metadata, "config": {}})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_every_byte_and_the_length_match() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT"));
        assert!(!same(b"s3cret", b"s3cre"));
        assert!(!same(b"", b"x"));
    }
}
