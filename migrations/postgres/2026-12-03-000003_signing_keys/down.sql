DROP TABLE IF EXISTS linkd_signing_keys;
