-- The language a recipient reads (a language tag); their text messages and answer page come
-- from the alert's info in it. NULL: the alert's first info.
ALTER TABLE recipients ADD COLUMN language TEXT CHECK (language IS NULL OR length(language) BETWEEN 1 AND 35);
