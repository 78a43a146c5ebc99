//! Output formats: the OneRoster CSV bundle, JSON files, NDJSON; staging and atomic publish.
