DROP TABLE IF EXISTS link_greetings;
