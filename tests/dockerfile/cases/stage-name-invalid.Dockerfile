FROM scratch AS 9lives
