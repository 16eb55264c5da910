//! ABCI Query: the paths the node answers and the JSON it answers with.
//!
//! `/tx/<64 hex digits>` (CometBFT's SHA-256 hash of the transaction)
//! answers a recently committed transaction's place and result
//! ([`super::tx_status`]): `{"hash", "height", "index", "code", "log"}`;
//! code 112 `tx_not_found` when it is not among them.
//!
//! `/account/<64 hex digits>` answers, as the response `value`:
//!
//! ```json
//! {"id": "<hex>", "exists": true, "balance": 5, "nonce": 1, "owner": 0,
//!  "data": "<hex>", "data_len": 0,
//!  "token": {"kind": "mint", "authority": "<hex>", "supply": 9, "decimals": 6}}
//! ```
//!
//! `exists` is false for an account that is not in state (every field then
//! has its default). `token` is present only for an account the token
//! program owns whose data is a mint (`kind` `mint`: `authority`, `supply`,
//! `decimals`) or a token account (`kind` `account`: `mint`, `owner`,
//! `amount`).

use serde_json::{json, Value};

use super::tx_status::QUERY_TX_PREFIX;
use super::{CODE_QUERY_BAD_ID, CODE_QUERY_BAD_PATH, CODE_QUERY_BAD_TX_HASH, CODE_QUERY_TX_NOT_FOUND};
use crate::account::{Account, AccountId, ProgramId};
use crate::program::token::{Mint, TokenAccount};

pub const QUERY_ACCOUNT_PREFIX: &str = "/account/";

/// A query the node cannot answer, with its ABCI code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    BadPath,
    BadAccountId {
        reason: String,
    },
    BadTxHash {
        reason: String,
    },
    /// Not among the recent results the node holds (`held` of them).
    TxNotFound {
        held: usize,
    },
}

impl QueryError {
    pub fn code(&self) -> u32 {
        match self {
            QueryError::BadPath => CODE_QUERY_BAD_PATH,
            QueryError::BadAccountId { .. } => CODE_QUERY_BAD_ID,
            QueryError::BadTxHash { .. } => CODE_QUERY_BAD_TX_HASH,
            QueryError::TxNotFound { .. } => CODE_QUERY_TX_NOT_FOUND,
        }
    }

    pub fn log(&self) -> String {
        match self {
            QueryError::BadPath => {
                format!("bad_path: expected {QUERY_ACCOUNT_PREFIX}<64 hex digits> or {QUERY_TX_PREFIX}<64 hex digits>")
            }
            QueryError::BadAccountId { reason } => format!("bad_account_id: {reason}"),
            QueryError::BadTxHash { reason } => format!("bad_tx_hash: {reason}"),
            QueryError::TxNotFound { held } => format!(
                "tx_not_found: not among the {held} most recent results this node holds; \
                 older ones are CometBFT's /tx on a node that indexes"
            ),
        }
    }
}

/// The account id of an `/account/<hex>` path.
pub fn account_path_id(path: &str) -> Result<AccountId, QueryError> {
    let id_hex = path.strip_prefix(QUERY_ACCOUNT_PREFIX).ok_or(QueryError::BadPath)?;
    crate::genesis::parse_account_id(id_hex).map_err(|reason| QueryError::BadAccountId { reason: reason.to_string() })
}

/// The answer to `/account/<id>`; `account` is `None` when it is not in state.
pub fn account_json(id: &AccountId, account: Option<&Account>) -> Value {
    let default = Account::default();
    let value = account.unwrap_or(&default);
    let mut object = json!({
        "id": hex::encode(id.0),
        "exists": account.is_some(),
        "balance": value.balance,
        "nonce": value.nonce,
        "owner": value.owner.0,
        "data": hex::encode(&value.data),
        "data_len": value.data.len(),
    });
    if let Some(token) = token_json(value) {
        object["token"] = token;
    }
    object
}

/// A token-program account's decoded layout, if it has one.
fn token_json(account: &Account) -> Option<Value> {
    if account.owner != ProgramId::TOKEN {
        return None;
    }
    if let Ok(mint) = Mint::decode(account) {
        return Some(json!({
            "kind": "mint",
            "authority": hex::encode(mint.authority.0),
            "supply": mint.supply,
            "decimals": mint.decimals,
        }));
    }
    let holding = TokenAccount::decode(account).ok()?;
    Some(json!({
        "kind": "account",
        "mint": hex::encode(holding.mint.0),
        "owner": hex::encode(holding.owner.0),
        "amount": holding.amount,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_absent_accounts() {
        assert_eq!(account_path_id("/nope"), Err(QueryError::BadPath));
        assert_eq!(account_path_id("/account/zz").unwrap_err().code(), CODE_QUERY_BAD_ID);
        let id = AccountId([7; 32]);
        assert_eq!(account_path_id(&format!("/account/{}", hex::encode(id.0))), Ok(id));
        let absent = account_json(&id, None);
        assert_eq!((absent["exists"].as_bool(), absent["balance"].as_u64()), (Some(false), Some(0)));
        assert!(absent.get("token").is_none());
    }
}
