FROM scratch AS a
