//! Tests of the running server: tokens, scopes, paging, headers, every collection, synthetic districts.
