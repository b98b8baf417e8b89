//! Who is calling: the `authenticate` middleware resolves the bearer token
//! through the token registry (`ferry-service`'s `tokens`), and handlers
//! take the caller as [`BearerAuth`] and check its role. The bootstrap admin
//! token is registered here at start.

use ferry_entity::Role;
use ferry_service::tokens;
use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use poem_openapi::{SecurityScheme, auth::Bearer};
use secrecy::ExposeSecret;

pub use ferry_service::tokens::{Forbidden, Identity};

use crate::{dialect::Dialect, middleware::request_id::RequestId, state::AppState};

/// EasyQueue's header for the bearer token; `Authorization` works too.
pub const EASYQUEUE_AUTHORIZATION: &str = "x-nhn-authorization";

/// `Authorization: Bearer <token>` on every route but health and docs.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "identity_of")]
pub struct BearerAuth(pub Identity);

/// The `authenticate` middleware has already looked the token up; a request
/// without an identity gets 401 in its dialect's envelope.
async fn identity_of(req: &Request, _bearer: Bearer) -> Option<Identity> {
    req.extensions().get::<Identity>().cloned()
}

/// Makes sure an admin can log in: `FERRY_ADMIN_TOKEN` is registered when
/// set; otherwise, when no admin token exists yet, one is generated and
/// printed once.
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let db = &state.store.db;
    if let Some(token) = &state.settings.admin_token {
        let token = token.expose_secret();
        if tokens::is_revoked(db, token).await? {
            // An operator revoked it on purpose: ferry starts without it
            // (other admin tokens still work) and says so.
            tracing::warn!(
                "FERRY_ADMIN_TOKEN names a revoked token; it is not registered again and does not \
                 work: unset it or set a new one"
            );
            return Ok(());
        }
        if tokens::lookup(db, token).await?.is_none() {
            // Another process may register the same token at the same moment;
            // the unique digest makes the loser's insert fail harmlessly.
            if let Err(err) =
                tokens::mint(db, "admin", Role::Admin, token, "FERRY_ADMIN_TOKEN").await
                && tokens::lookup(db, token).await?.is_none()
            {
                return Err(err.into());
            }
        }
        return Ok(());
    }
    if !tokens::has_admin(db).await? {
        let token = tokens::generate();
        tokens::mint(db, "admin", Role::Admin, &token, "bootstrap").await?;
        // Printed on stdout, not logged: it must not reach log collectors.
        println!("ferry: generated the admin token (shown only this once): {token}");
    }
    Ok(())
}

/// Resolves the bearer token, if any, into an [`Identity`] stored in the
/// request's extensions for the routes and the audit log.
pub async fn authenticate<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    // EasyQueue's clients send the token in `X-NHN-Authorization`.
    let token = [
        poem::http::header::AUTHORIZATION.as_str(),
        EASYQUEUE_AUTHORIZATION,
    ]
    .into_iter()
    .find_map(|name| req.headers().get(name))
    .and_then(|v| v.to_str().ok())
    .and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    })
    .map(|t| t.trim().to_owned());
    if let (Some(token), Some(state)) = (token, req.data::<AppState>().cloned()) {
        let digest = tokens::digest(&token);
        if let Some(identity) = state.tokens.get(&digest) {
            req.extensions_mut().insert(identity);
            return next.call(req).await.map(IntoResponse::into_response);
        }
        match tokens::lookup_digest(&state.store.db, &digest).await {
            Ok(Some(identity)) => {
                state.tokens.insert(digest, identity.clone());
                req.extensions_mut().insert(identity);
            }
            Ok(None) => {}
            // The token may well be valid: the store that would say so is
            // down. 401 would tell the caller to change its token; 503 tells
            // it to retry.
            Err(err) => {
                tracing::warn!(error = %err, "token lookup failed; answering 503");
                let request_id = req
                    .extensions()
                    .get::<RequestId>()
                    .map(|r| r.0.clone())
                    .unwrap_or_default();
                return Ok(Dialect::of_path(req.uri().path()).error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the metadata store is unavailable; retry later",
                    &request_id,
                ));
            }
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}
