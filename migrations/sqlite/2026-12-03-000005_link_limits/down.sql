DROP TABLE IF EXISTS link_limits;
