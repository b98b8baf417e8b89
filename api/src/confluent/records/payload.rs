//! The records route's body and answer as poem-openapi payloads: the body
//! is taken as a stream (`RecordStream`), never read whole by the framework,
//! and the answer is a stream of reports (`Reports`); the document declares
//! them as one `ProduceRequest` and one `ProduceResponse`.

use poem::{Body, FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
};

use super::{ProduceRequest, ProduceResponse};

/// The request body: one record or a stream of them, read as it arrives.
pub struct RecordStream {
    pub body: Body,
    /// Sent with a `Content-Length`: the whole body is known up front.
    pub sized: bool,
}

impl Payload for RecordStream {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        <poem_openapi::payload::Json<serde_json::Value> as Payload>::check_content_type(
            content_type,
        )
    }

    fn schema_ref() -> MetaSchemaRef {
        ProduceRequest::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ProduceRequest::register(registry);
    }
}

impl ParsePayload for RecordStream {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let sized = request
            .headers()
            .contains_key(poem::http::header::CONTENT_LENGTH);
        Ok(Self {
            body: <Body as FromRequest>::from_request(request, body).await?,
            sized,
        })
    }
}

impl<'a> ApiExtractor<'a> for RecordStream {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: Self::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// Reports, one per record, written as records are delivered.
pub struct Reports(pub Body);

impl Payload for Reports {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        ProduceResponse::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ProduceResponse::register(registry);
    }
}

impl IntoResponse for Reports {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}
