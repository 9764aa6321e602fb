DROP TABLE IF EXISTS attachstore_dropped_sessions;
DROP TABLE IF EXISTS attachstore_holds;
DROP TABLE IF EXISTS attachstore_refs;
DROP TABLE IF EXISTS attachstore_chunks;
DROP TABLE IF EXISTS attachstore_blobs;
