//! The secret key is checked when a process starts, inside the migration's
//! locked transaction (one process at a time): a canary, a known text sealed
//! with the key in use, is kept in `ferry_meta`.
//!
//! - No canary yet: any secret already stored must open with the key in use
//!   (else the previous one, which starts a rotation); then the canary is
//!   written.
//! - The canary opens with the key in use: nothing to do.
//! - It opens with `FERRY_SECRET_KEY_PREVIOUS`: rotation. Every stored
//!   secret (cluster passwords, changefeed downstream passwords, sealed
//!   values in task payloads) is re-sealed with the key in use, and the
//!   canary with it, in this transaction.
//! - It opens with neither: the process refuses to start, saying why, rather
//!   than start and fail every request that needs a secret.

use ferry_entity::{
    TaskKind, changefeed, cluster, meta,
    payload::{ChangefeedPatch, ConfigChange},
    task,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use secrecy::ExposeSecret;

use super::{SecretBox, SecretError};

const CANARY_NAME: &str = "secret_canary";
const CANARY_TEXT: &str = "ferry secret key canary";

#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error(
        "FERRY_SECRET_KEY does not open the secrets this metadata store holds: it is not the key \
         they were sealed with. Start with the key in use; to change keys, set the old one as \
         FERRY_SECRET_KEY_PREVIOUS beside the new FERRY_SECRET_KEY"
    )]
    WrongKey,
    #[error("checking the secret key failed: {0}")]
    Store(#[from] DbErr),
}

impl From<SecretError> for KeyCheckError {
    fn from(_: SecretError) -> Self {
        KeyCheckError::WrongKey
    }
}

/// Checks the key in use against the store and rotates from the previous
/// key when the store's secrets are sealed with that one.
pub async fn check_and_rotate(
    txn: &DatabaseTransaction,
    secrets: &SecretBox,
) -> Result<(), KeyCheckError> {
    let canary = meta::Entity::find_by_id(CANARY_NAME.to_owned())
        .one(txn)
        .await?;
    let sealed = match &canary {
        Some(row) => Some(row.value.clone()),
        None => any_stored_secret(txn).await?,
    };
    match sealed {
        Some(s) if secrets.opens_with_current(&s) => {}
        Some(s) if secrets.decrypt(&s).is_ok() => {
            let count = rotate(txn, secrets).await?;
            tracing::warn!(
                secrets = count,
                "re-sealed every stored secret with the new FERRY_SECRET_KEY; \
                 FERRY_SECRET_KEY_PREVIOUS can be unset once every process runs with the new key"
            );
        }
        Some(_) => return Err(KeyCheckError::WrongKey),
        None => {}
    }
    let value = secrets.encrypt(CANARY_TEXT);
    match canary {
        Some(row) if secrets.opens_with_current(&row.value) => {}
        Some(row) => {
            let mut active = row.into_active_model();
            active.value = Set(value);
            active.update(txn).await?;
        }
        None => {
            meta::ActiveModel {
                name: Set(CANARY_NAME.to_owned()),
                value: Set(value),
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}

/// One secret sealed before the canary existed, if any.
async fn any_stored_secret(txn: &impl ConnectionTrait) -> Result<Option<String>, DbErr> {
    let from_clusters = cluster::Entity::find()
        .select_only()
        .column(cluster::Column::Secret)
        .filter(cluster::Column::Secret.is_not_null())
        .into_tuple::<Option<String>>()
        .one(txn)
        .await?
        .flatten();
    if from_clusters.is_some() {
        return Ok(from_clusters);
    }
    Ok(changefeed::Entity::find()
        .select_only()
        .column(changefeed::Column::DownstreamSecret)
        .filter(changefeed::Column::DownstreamSecret.is_not_null())
        .into_tuple::<Option<String>>()
        .one(txn)
        .await?
        .flatten())
}

/// Re-seals every stored secret with the key in use; returns how many.
async fn rotate(txn: &DatabaseTransaction, secrets: &SecretBox) -> Result<usize, KeyCheckError> {
    let reseal = |sealed: &str| -> Result<String, KeyCheckError> {
        Ok(secrets.encrypt(secrets.decrypt(sealed)?.expose_secret()))
    };
    let mut count = 0;
    for row in cluster::Entity::find()
        .filter(cluster::Column::Secret.is_not_null())
        .all(txn)
        .await?
    {
        let sealed = reseal(row.secret.as_deref().unwrap_or_default())?;
        let mut active = row.into_active_model();
        active.secret = Set(Some(sealed));
        active.update(txn).await?;
        count += 1;
    }
    for row in changefeed::Entity::find()
        .filter(changefeed::Column::DownstreamSecret.is_not_null())
        .all(txn)
        .await?
    {
        let sealed = reseal(row.downstream_secret.as_deref().unwrap_or_default())?;
        let mut active = row.into_active_model();
        active.downstream_secret = Set(Some(sealed));
        active.update(txn).await?;
        count += 1;
    }
    // Task payloads that hold sealed values: config changes and changefeed
    // updates.
    let sealing_kinds = [
        TaskKind::TopicConfigAlter,
        TaskKind::BrokerConfigAlter,
        TaskKind::ChangefeedUpdate,
    ];
    for row in task::Entity::find()
        .filter(task::Column::Kind.is_in(sealing_kinds))
        .all(txn)
        .await?
    {
        let payload = if let Ok(mut change) = row.payload::<ConfigChange>() {
            let mut changed = false;
            for op in &mut change.ops {
                if let Some(sealed) = &op.sealed {
                    op.sealed = Some(reseal(sealed)?);
                    changed = true;
                }
            }
            changed.then(|| serde_json::to_value(change))
        } else if let Ok(mut patch) = row.payload::<ChangefeedPatch>() {
            match &patch.downstream_secret {
                Some(sealed) => {
                    patch.downstream_secret = Some(reseal(sealed)?);
                    Some(serde_json::to_value(patch))
                }
                None => None,
            }
        } else {
            None
        };
        if let Some(Ok(payload)) = payload {
            let mut active = row.into_active_model();
            active.payload = Set(payload);
            active.update(txn).await?;
            count += 1;
        }
    }
    Ok(count)
}
