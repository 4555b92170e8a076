DROP TABLE IF EXISTS linkd_presence;
