-- Name search keys (patron/namekey.go): a name search folds case and
-- diacritics, so that "čermák", "ČERMÁK" and "cermak" all find "Čermák",
-- and reads names in the order of their keys, compared byte by byte.
--
-- Before, it compared lower(name) with the query lower-cased in Go. Under
-- collation C (the clusters pglocal creates) lower() lower-cases ASCII
-- only, so "čermák" did not find "Čermák"; under any other collation
-- lower() folds more, but LIKE 'prefix%' is no index range, so a search
-- walked the whole name order.
--
-- patron_name_key is a pure function of the name, whatever the database's
-- collation: translate() maps ASCII capitals to small letters, the letters
-- with diacritics of Latin-1 Supplement and Latin Extended-A (and Ș ș Ț ț
-- ẞ) to small base letters, Cyrillic and Greek capitals to small letters,
-- and deletes combining diacritical marks (U+0300-U+036F); replace()
-- expands ß æ œ þ ĳ to two letters. translate() scans its second argument
-- for every character of the name, so the letters of Czech names come
-- first, the most frequent first (ASCII small letters too, to themselves).
-- patron/namekey.go holds the same tables, piece by piece, and documents
-- the mapping; TestNameKeyMatchesSQL checks that Go and SQL agree on every
-- code point of the BMP. Change both together, in a new migration (and
-- rebuild the indexes).
--
-- The indexes of migrations 00007 and 00008 are rebuilt on the keys under
-- collation C, which serves both the ORDER BY of every search and the
-- LIKE 'prefix%' ranges under any database collation. The collation is
-- given to the name, patron_name_key(last_name COLLATE "C"), so that the
-- key is of collation C itself; queries must spell the key exactly so. The
-- function is PL/pgSQL so that it is never inlined: inlined, its long
-- constants doubled the planning time of every branch of a search (the
-- planner compares and folds the whole expression; 0.66 vs 0.22 ms for
-- "kr" on 1 M patrons) and slowed the scan too (0.42 vs 0.18 ms).
-- Searches read the keys from the indexes, so the function runs only
-- when a name is written or an index is built (1 M patrons: 3.4 s).
--
-- The planner ignores the statistics of partial indexes, such as these, so
-- patrons_name_key_stats gives it the keys' statistics (how many patrons
-- a prefix selects; without them it guesses 0.5 % for any prefix and may
-- prefer reading every match and sorting to an ordered scan that stops
-- after a page). Before, the lower() indexes of migration 00002 did that;
-- they no longer serve patron.Search.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION patron_name_key(name text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ BEGIN RETURN replace(replace(replace(replace(replace(
    translate(name,
      E'aoeinrlkvtsmuhdcjpbyzgfwxq'
      'áíéýřčšžůúěňťďó'
      'NSKDHMPVBCJTRLFZOEAGIUWYXQ'
      'ČŠŽŘÚÁÍÉÝŮĚŇŤĎÓ'
      'ÀÂÃÄÅÆÇÈÊËÌÎÏÐÑÒÔÕÖØÙÛÜÞàâãäåçèêëìîïðñòôõöøùûüÿ'
      'ĀāĂăĄąĆćĈĉĊċĐđĒēĔĕĖėĘęĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŉŊŋŌōŎŏŐőŒŔŕŖŗŚśŜŝŞşŢţŦŧŨũŪūŬŭŰűŲųŴŵŶŷŸŹźŻżſ'
      'ȘșȚțẞ'
      'ЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯҐ'
      'ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΆΈΉΊΌΎΏΪΫάέήίόύώϊϋΐΰς'
      '\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030A\u030B\u030C\u030D\u030E\u030F'
      '\u0310\u0311\u0312\u0313\u0314\u0315\u0316\u0317\u0318\u0319\u031A\u031B\u031C\u031D\u031E\u031F'
      '\u0320\u0321\u0322\u0323\u0324\u0325\u0326\u0327\u0328\u0329\u032A\u032B\u032C\u032D\u032E\u032F'
      '\u0330\u0331\u0332\u0333\u0334\u0335\u0336\u0337\u0338\u0339\u033A\u033B\u033C\u033D\u033E\u033F'
      '\u0340\u0341\u0342\u0343\u0344\u0345\u0346\u0347\u0348\u0349\u034A\u034B\u034C\u034D\u034E\u034F'
      '\u0350\u0351\u0352\u0353\u0354\u0355\u0356\u0357\u0358\u0359\u035A\u035B\u035C\u035D\u035E\u035F'
      '\u0360\u0361\u0362\u0363\u0364\u0365\u0366\u0367\u0368\u0369\u036A\u036B\u036C\u036D\u036E\u036F',
      E'aoeinrlkvtsmuhdcjpbyzgfwxq'
      'aieyrcszuuentdo'
      'nskdhmpvbcjtrlfzoeagiuwyxq'
      'cszruaieyuentdo'
      'aaaaaæceeeiiidnooooouuuþaaaaaceeeiiidnooooouuuy'
      'aaaaaaccccccddeeeeeeeegggggggghhhhiiiiiiiiiiĳjjkkkllllllllllnnnnnnnooooooœrrrrssssssttttuuuuuuuuuuwwyyyzzzzs'
      'ssttß'
      'ѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяґ'
      'αβγδεζηθικλμνξοπρστυφχψωαεηιουωιυαεηιουωιυιυσ'),
    'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th'), 'ĳ', 'ij'); END $$;
-- +goose StatementEnd

DROP INDEX patrons_name_order_idx;
CREATE INDEX patrons_name_order_idx
  ON patrons (patron_name_key(last_name COLLATE "C"), patron_name_key(first_name COLLATE "C"), id)
  INCLUDE (last_name, first_name, home_library_id, archived_at, anonymised_at)
  WHERE anonymised_at IS NULL;

DROP INDEX patrons_first_name_order_idx;
CREATE INDEX patrons_first_name_order_idx
  ON patrons (left(patron_name_key(first_name COLLATE "C"), 2), patron_name_key(last_name COLLATE "C"),
    patron_name_key(first_name COLLATE "C"), id)
  INCLUDE (last_name, first_name, home_library_id, archived_at, anonymised_at)
  WHERE anonymised_at IS NULL;

CREATE STATISTICS patrons_name_key_stats
  ON (patron_name_key(last_name COLLATE "C")), (patron_name_key(first_name COLLATE "C")),
    (left(patron_name_key(first_name COLLATE "C"), 2))
  FROM patrons;
-- Extended statistics are built by ANALYZE; autovacuum would not analyze
-- an unchanged table, so until then every prefix would look like 0.5 %.
ANALYZE patrons;

-- +goose Down
DROP STATISTICS patrons_name_key_stats;

DROP INDEX patrons_first_name_order_idx;
CREATE INDEX patrons_first_name_order_idx
  ON patrons (left(lower(first_name), 2), lower(last_name), lower(first_name), id)
  INCLUDE (last_name, first_name, home_library_id, archived_at, anonymised_at)
  WHERE anonymised_at IS NULL;

DROP INDEX patrons_name_order_idx;
CREATE INDEX patrons_name_order_idx ON patrons (lower(last_name), lower(first_name), id)
  INCLUDE (last_name, first_name, home_library_id, archived_at, anonymised_at)
  WHERE anonymised_at IS NULL;

DROP FUNCTION patron_name_key(text);
