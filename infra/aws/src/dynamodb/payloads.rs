//! The payloads role on AWS: a payload up to [`ITEM_PAYLOAD_MAX`] bytes is one DynamoDB item
//! `PAYLOAD#<digest>` / `PAYLOAD` (binary `body`); a larger one (up to Knock's 10 MB) is the S3
//! object `payloads/<digest>` in the data bucket, since an item holds at most 400 KB. The
//! reference carries the size, so a read knows where to look. Content-addressed: a second put
//! writes the same bytes; kept for good, like definitions.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::Blob;
use herald_core::data::PayloadRef;
use herald_core::error::StoreError;
use herald_core::ports::Payloads;

use super::request::{key, sdk_error};
use super::DynamoStore;

/// The largest payload kept in the table (an item's 400 KB less room for its keys).
pub const ITEM_PAYLOAD_MAX: usize = 350 * 1024;

const SK: &str = "PAYLOAD";

fn pk(reference: &PayloadRef) -> String {
    format!("PAYLOAD#{}", reference.digest)
}

fn object_key(reference: &PayloadRef) -> String {
    format!("payloads/{}", reference.digest)
}

/// An S3 client for the data bucket: path-style addressing when the endpoint is overridden
/// (a local S3 such as moto's has no per-bucket host names).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(sdk).build())
}

/// [`s3_client`]'s configuration, for callers that add interceptors.
pub fn s3_config(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some())
}

impl DynamoStore {
    /// The data bucket, or why a large payload cannot be kept.
    fn bucket(&self) -> Result<&super::DataBucket, StoreError> {
        self.data_bucket.as_ref().ok_or_else(|| {
            StoreError::Rejected(format!(
                "data larger than {ITEM_PAYLOAD_MAX} bytes needs the data bucket (DATA_BUCKET)"
            ))
        })
    }
}

#[async_trait]
impl Payloads for DynamoStore {
    async fn put_payload(&self, reference: &PayloadRef, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.len() > ITEM_PAYLOAD_MAX {
            let bucket = self.bucket()?;
            bucket
                .client
                .put_object()
                .bucket(&bucket.name)
                .key(object_key(reference))
                .content_type("application/json")
                .body(ByteStream::from(bytes.to_vec()))
                .send()
                .await
                .map_err(sdk_error)?;
            return Ok(());
        }
        let mut item = key(pk(reference), SK);
        item.insert("body".into(), AttributeValue::B(Blob::new(bytes)));
        self.put(item).await
    }

    async fn get_payload(&self, reference: &PayloadRef) -> Result<Option<Vec<u8>>, StoreError> {
        if reference.bytes > ITEM_PAYLOAD_MAX {
            let bucket = self.bucket()?;
            let answer = bucket
                .client
                .get_object()
                .bucket(&bucket.name)
                .key(object_key(reference))
                .send()
                .await;
            let object = match answer {
                Ok(object) => object,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None)
                }
                Err(e) => return Err(sdk_error(e)),
            };
            let body = object.body.collect().await.map_err(|e| {
                StoreError::backend(format!("reading payload {}: {e}", reference.digest))
            })?;
            return Ok(Some(body.into_bytes().to_vec()));
        }
        let Some(item) = self.get(pk(reference), SK).await? else {
            return Ok(None);
        };
        match item.get("body") {
            Some(AttributeValue::B(blob)) => Ok(Some(blob.clone().into_inner())),
            _ => Err(StoreError::Corrupt(format!(
                "payload {} has no body",
                reference.digest
            ))),
        }
    }
}
