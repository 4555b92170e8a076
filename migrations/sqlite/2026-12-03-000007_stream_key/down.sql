DROP TABLE IF EXISTS linkd_stream_key;
