-- Name keys fold Vietnamese and the rest of Latin, and fullwidth forms
-- (patron/namekey.go): "nguyen" finds "Nguyễn", "duong" "Dương", "tran"
-- "Trần", and "ｎｇｕｙｅｎ" (typed with a CJK input method) finds them too.
--
-- patron_name_key of migration 00010 folded Latin-1 Supplement, Latin
-- Extended-A, Ș ș Ț ț, Cyrillic and Greek capitals; it left as they were
-- the letters of Latin Extended-B (ư ơ of Vietnamese, ǎ ǐ ǒ ǔ of pinyin,
-- ǅ ǉ ǌ, ƒ, Ɓ...), Latin Extended Additional (ạ ầ ễ ộ ữ... of Vietnamese,
-- ḃ ḋ ṡ of Irish, ẁ ẃ ẅ ỳ of Welsh) and fullwidth ASCII (U+FF01-U+FF5E).
-- This migration replaces the function with one whose translate() tables
-- also map those letters, where they have a clear Latin base letter, to
-- it (Ǆ ǅ ǆ Ǳ ǲ ǳ → dz, Ǉ ǈ ǉ → lj, Ǌ ǋ ǌ → nj, through replace() as ß;
-- Ǣ Ǽ → ae as Æ), the lower-case partners of its capitals in other blocks
-- (ɓ ɗ ɨ ɲ ʉ...), and fullwidth ASCII to ASCII (letters small); letters
-- without a Latin base (ə ǝ ɛ ɔ ʃ ʒ ȝ ƿ ƕ ȣ, tone letters, clicks...) stay
-- as they are. patron/namekey.go documents the mapping and holds the same
-- tables; TestNameKeyMatchesSQL checks that Go and SQL agree.
--
-- translate() scans its from-string for every character of a name, so
-- the new letters come after the letters of 00010 (only the combining
-- marks, which translate() deletes because they have no counterpart in
-- the to-string, must stay last); Czech letters cost what they did. A
-- character that is not in the from-string at all costs a scan of all of
-- it, twice as long now: space, hyphen and apostrophe (Nováková-Svobodová,
-- O'Brien) are therefore listed early, to themselves. The keys of 100 000
-- Czech names (last and first; 8 % with a hyphen or a space) take about
-- as long as before, 0.28-0.29 s of CPU (without the early space, hyphen
-- and apostrophe, 10 % more); of names without either, about 6 % more
-- (the three new replace()s, some 25 ns each).
--
-- The keys of every stored name may change, so both indexes on them are
-- rebuilt and the extended statistics patrons_name_key_stats re-analyzed.
-- Down puts back the function of migration 00010, the same way.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION patron_name_key(name text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ BEGIN RETURN replace(replace(replace(replace(replace(replace(replace(replace(
    translate(name,
      E'aoeinrlkvtsmuhdcjpbyzgfwxq'
      'áíéýřčšžůúěňťďó'
      'NSKDHMPVBCJTRLFZOEAGIUWYXQ'
      'ČŠŽŘÚÁÍÉÝŮĚŇŤĎÓ'
      ' -'''
      'ÀÂÃÄÅÆÇÈÊËÌÎÏÐÑÒÔÕÖØÙÛÜÞàâãäåçèêëìîïðñòôõöøùûüÿ'
      'ĀāĂăĄąĆćĈĉĊċĐđĒēĔĕĖėĘęĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŉŊŋŌōŎŏŐőŒŔŕŖŗŚśŜŝŞşŢţŦŧŨũŪūŬŭŰűŲųŴŵŶŷŸŹźŻżſ'
      'ȘșȚțẞ'
      'ЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯҐ'
      'ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΆΈΉΊΌΎΏΪΫάέήίόύώϊϋΐΰς'
      'ạưệịơễầếỳảậềọốồờứỹấắằặổỗộợụủữựẩẫẳẵẹẻẽểỉỏớởỡừửỵỷ'
      'ƠƯẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸ'
      'ḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẚẛẜẝỾỿ'
      'ƀƁƂƃƇƈƉƊƋƌƑƒƓƗƘƙƚƝƞƟƤƥƫƬƭƮƲƳƴƵƶǄǅǆǇǈǊǋǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǢǣǤǥǦǧǨǩǪǫǬǭǰǱǲǴǵǸǹǺǻǼǽǾǿȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȞȟȠȡȤȥȦȧȨȩȪȫȬȭȮȯȰȱȲȳȴȵȶȷȺȻȼȽȾȿɀɃɄɆɇɈɉɊɋɌɍɎɏ'
      'ɓɖɗɠɨɲɵʈʉʋⱥⱦⱾⱿ'
      '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～'
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
      ' -'''
      'aaaaaæceeeiiidnooooouuuþaaaaaceeeiiidnooooouuuy'
      'aaaaaaccccccddeeeeeeeegggggggghhhhiiiiiiiiiiĳjjkkkllllllllllnnnnnnnooooooœrrrrssssssttttuuuuuuuuuuwwyyyzzzzs'
      'ssttß'
      'ѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяґ'
      'αβγδεζηθικλμνξοπρστυφχψωαεηιουωιυαεηιουωιυιυσ'
      'aueioeaeyaaeoooouyaaaaoooouuuuaaaaeeeeioooouuyy'
      'ouaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuuuuuyyyy'
      'aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzzhtwyasssyy'
      'bbbbccddddffgikklnnoppttttvyyzzǳǳǳǉǉǌǌaaiioouuuuuuuuuuaaaaææggggkkoooojǳǳggnnaaææooaaaaeeeeiiiioooorrrruuuuhhndzzaaeeooooooooyylntjaccltszbueejjqqrryy'
      'bddginotuvatsz'
      '!"#$%&''()*+,-./0123456789:;<=>?@abcdefghijklmnopqrstuvwxyz[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~'),
    'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th'), 'ĳ', 'ij'),
    'ǳ', 'dz'), 'ǉ', 'lj'), 'ǌ', 'nj'); END $$;
-- +goose StatementEnd

REINDEX INDEX patrons_name_order_idx;
REINDEX INDEX patrons_first_name_order_idx;
-- Extended statistics are built by ANALYZE (see migration 00010).
ANALYZE patrons;

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION patron_name_key(name text) RETURNS text
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

REINDEX INDEX patrons_name_order_idx;
REINDEX INDEX patrons_first_name_order_idx;
ANALYZE patrons;
