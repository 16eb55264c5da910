//! Named execution errors with stable numeric codes.
//!
//! Codes are consensus data: they are hashed into the receipts root and
//! returned to clients (ABCI `code`), so a code, once assigned, never
//! changes meaning. Ranges: 1–9 pre-execution checks, 10–19 rules the
//! runtime enforces on every program, 20–99 native program errors, and
//! 1000 + n for a registered program's own error `n`.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExecError {
    /// The transaction's nonce is not the fee payer's next nonce.
    BadNonce,
    /// The fee payer cannot pay the fee.
    InsufficientFeeBalance,
    /// The fee payer's nonce cannot be bumped again.
    NonceExhausted,
    /// The instruction names a program the chain has not registered.
    UnknownProgram,
    /// A program reached for an account the transaction did not declare.
    UndeclaredAccount,
    /// A program asked to write an account declared read-only.
    ReadOnlyAccount,
    /// A program asked for an instruction account position past the end.
    MissingInstructionAccount,
    /// A program changed data, owner or nonce of, or debited, an account
    /// it does not own.
    ExternalAccountModified,
    /// An instruction created or destroyed native balance.
    BalanceNotConserved,
    /// An account's data grew past `ACCOUNT_DATA_BYTES_MAX`.
    AccountDataTooLarge,
    InvalidInstructionData,
    InsufficientFunds,
    ArithmeticOverflow,
    /// The signer lacks the authority the instruction needs.
    Unauthorized,
    AccountAlreadyExists,
    InvalidAccountOwner,
    InvalidAccountData,
    /// A created account's id is not the address derived from its seed.
    AddressMismatch,
    MintMismatch,
    AccountAlreadyInitialized,
    /// A registered program's own error, numbered by that program.
    Custom(u16),
}

const CUSTOM_BASE: u32 = 1000;

impl ExecError {
    const NAMED: [(ExecError, u32, &'static str); 20] = [
        (ExecError::BadNonce, 1, "bad_nonce"),
        (ExecError::InsufficientFeeBalance, 2, "insufficient_fee_balance"),
        (ExecError::NonceExhausted, 3, "nonce_exhausted"),
        (ExecError::UnknownProgram, 10, "unknown_program"),
        (ExecError::UndeclaredAccount, 11, "undeclared_account"),
        (ExecError::ReadOnlyAccount, 12, "read_only_account"),
        (ExecError::MissingInstructionAccount, 13, "missing_instruction_account"),
        (ExecError::ExternalAccountModified, 14, "external_account_modified"),
        (ExecError::BalanceNotConserved, 15, "balance_not_conserved"),
        (ExecError::AccountDataTooLarge, 16, "account_data_too_large"),
        (ExecError::InvalidInstructionData, 20, "invalid_instruction_data"),
        (ExecError::InsufficientFunds, 21, "insufficient_funds"),
        (ExecError::ArithmeticOverflow, 22, "arithmetic_overflow"),
        (ExecError::Unauthorized, 23, "unauthorized"),
        (ExecError::AccountAlreadyExists, 24, "account_already_exists"),
        (ExecError::InvalidAccountOwner, 25, "invalid_account_owner"),
        (ExecError::InvalidAccountData, 26, "invalid_account_data"),
        (ExecError::AddressMismatch, 27, "address_mismatch"),
        (ExecError::MintMismatch, 28, "mint_mismatch"),
        (ExecError::AccountAlreadyInitialized, 29, "account_already_initialized"),
    ];

    /// The stable numeric code. Never 0: 0 means success.
    pub fn code(self) -> u32 {
        match self {
            ExecError::Custom(n) => CUSTOM_BASE + n as u32,
            named => Self::NAMED.iter().find(|(e, _, _)| *e == named).expect("every named error has a code").1,
        }
    }

    pub fn from_code(code: u32) -> Option<ExecError> {
        if code >= CUSTOM_BASE {
            return u16::try_from(code - CUSTOM_BASE).ok().map(ExecError::Custom);
        }
        Self::NAMED.iter().find(|(_, c, _)| *c == code).map(|(e, _, _)| *e)
    }

    /// A stable snake_case name for reports and logs.
    pub fn name(self) -> &'static str {
        match self {
            ExecError::Custom(_) => "custom",
            named => Self::NAMED.iter().find(|(e, _, _)| *e == named).expect("every named error has a name").2,
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Custom(n) => write!(f, "custom program error {n} (code {})", self.code()),
            e => write!(f, "{} (code {})", e.name(), e.code()),
        }
    }
}

impl std::error::Error for ExecError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (e, code, _) in ExecError::NAMED {
            assert_ne!(code, 0);
            assert!(seen.insert(code), "duplicate code {code}");
            assert_eq!(e.code(), code);
            assert_eq!(ExecError::from_code(code), Some(e));
        }
        assert_eq!(ExecError::from_code(ExecError::Custom(7).code()), Some(ExecError::Custom(7)));
        assert_eq!(ExecError::from_code(0), None);
        assert_eq!(ExecError::from_code(999), None);
        assert_eq!(ExecError::from_code(u32::MAX), None);
    }
}
