//! Column transforms on decoded values: trim/lower/upper, code maps, email check, phone to E.164,
//! numeric rescale, timezone conversion, UUIDv5 ids, concatenation.
