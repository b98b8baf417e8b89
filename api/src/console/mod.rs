//! The web console at `/`: a page, a few ES modules and a style sheet,
//! compiled into the binary, so that a person opening ferry's address in a
//! browser sees its clusters, tasks and changefeeds with nothing else to
//! install. The page holds no privileges of its own: it signs in with a
//! token the person pastes and calls ferry's own API with it, so it shows and
//! does exactly what that token may (`GET /api/v1/session` tells it which).
//!
//! The assets are plain files under `assets/` with no build step. Each is
//! compressed with gzip once, on first use, and answered compressed to
//! clients that accept it; an `ETag` lets a browser revalidate instead of
//! downloading again, which is why the answers say `no-cache` rather than
//! carrying a version in their names.

use std::{
    hash::{Hash, Hasher},
    io::Write,
    sync::LazyLock,
};

use flate2::{Compression, write::GzEncoder};
use poem::{
    Endpoint, IntoResponse, Request, Response, handler,
    http::{HeaderValue, Method, StatusCode, header},
    web::Path,
};

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Every file the console serves. `index.html` is answered at `/`, the
/// others at `/console/{name}`; `/console/` does not clash with any
/// dialect's routes, REST Proxy v2's root paths included.
const ASSETS: &[Asset] = &[
    asset("index.html", HTML, include_bytes!("assets/index.html")),
    asset("console.css", CSS, include_bytes!("assets/console.css")),
    asset("app.js", JS, include_bytes!("assets/app.js")),
    asset("api.js", JS, include_bytes!("assets/api.js")),
    asset("ui.js", JS, include_bytes!("assets/ui.js")),
    asset("chart.js", JS, include_bytes!("assets/chart.js")),
    asset("overview.js", JS, include_bytes!("assets/overview.js")),
    asset("tasks.js", JS, include_bytes!("assets/tasks.js")),
    asset("clusters.js", JS, include_bytes!("assets/clusters.js")),
    asset("topic.js", JS, include_bytes!("assets/topic.js")),
    asset(
        "changefeeds.js",
        JS,
        include_bytes!("assets/changefeeds.js"),
    ),
    asset("changesets.js", JS, include_bytes!("assets/changesets.js")),
    asset("admin.js", JS, include_bytes!("assets/admin.js")),
    asset("grants.js", JS, include_bytes!("assets/grants.js")),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const fn asset(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
    Asset {
        name,
        content_type,
        body,
    }
}

/// The page may run only its own scripts and styles and talk only to ferry:
/// a value the API returns can never become markup that runs (the scripts
/// also build the page from text nodes, never from HTML strings).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// An asset with its compressed body and its entity tag, made once.
struct Prepared {
    asset: &'static Asset,
    gzip: Vec<u8>,
    etag: HeaderValue,
}

static PREPARED: LazyLock<Vec<Prepared>> = LazyLock::new(|| ASSETS.iter().map(prepare).collect());

fn prepare(asset: &'static Asset) -> Prepared {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    // Writing into a Vec cannot fail; the fallback only keeps this total.
    let gzip = encoder
        .write_all(asset.body)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    // The content's hash is the tag: it changes exactly when a new binary
    // serves a different file.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    asset.body.hash(&mut hasher);
    let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    Prepared { asset, gzip, etag }
}

/// The console's page, at `/`. A middleware rather than a route: the API
/// document's routes are nested at the root (REST Proxy v2 lives there),
/// and poem's router hands `/` to that nest before a route of its own.
pub async fn page_at_root<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if req.uri().path() == "/" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return serve(&req, "index.html");
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The console's scripts and style sheet, at `/console/{name}`.
#[handler]
pub fn file(req: &Request, Path(name): Path<String>) -> poem::Result<Response> {
    serve(req, &name)
}

fn serve(req: &Request, name: &str) -> poem::Result<Response> {
    let Some(prepared) = PREPARED.iter().find(|p| p.asset.name == name) else {
        // Rendered as a native problem by `middleware::error_envelope`.
        return Err(poem::Error::from_string(
            format!("the console has no file {name}"),
            StatusCode::NOT_FOUND,
        ));
    };
    let headers = req.headers();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag == prepared.etag);
    let gzip = !prepared.gzip.is_empty()
        && headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|c| c.trim().starts_with("gzip")));
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, prepared.etag.clone())
        .header(header::VARY, "accept-encoding")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    if fresh {
        return Ok(builder.status(StatusCode::NOT_MODIFIED).finish());
    }
    builder = builder.content_type(prepared.asset.content_type);
    Ok(if gzip {
        builder
            .header(header::CONTENT_ENCODING, "gzip")
            .body(prepared.gzip.clone())
    } else {
        builder.body(prepared.asset.body)
    })
}

/// The bytes a browser downloads for the whole console, compressed.
pub fn compressed_size() -> usize {
    PREPARED.iter().map(|p| p.gzip.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, compressed_size};

    /// The budget for the whole console (issue #20).
    const BUDGET_BYTES: usize = 500 * 1024;

    #[test]
    fn the_console_weighs_less_than_its_budget() {
        let size = compressed_size();
        assert!(size > 0, "the assets compress");
        assert!(
            size < BUDGET_BYTES,
            "the console weighs {size} bytes compressed, over {BUDGET_BYTES}"
        );
    }

    /// Every module a script imports, and every file the page links, is
    /// served: a missing one would leave a blank page.
    #[test]
    fn every_referenced_file_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        let mut referenced = Vec::new();
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).expect("assets are UTF-8");
            for quote in ["'./", "\"/console/"] {
                for (at, _) in text.match_indices(quote) {
                    let rest = &text[at + quote.len()..];
                    let end = rest.find(['\'', '"']).expect("a closing quote");
                    referenced.push(rest[..end].to_owned());
                }
            }
        }
        assert!(referenced.len() >= ASSETS.len() - 1, "{referenced:?}");
        for name in referenced {
            assert!(served.contains(&name.as_str()), "{name} is not served");
        }
    }
}
