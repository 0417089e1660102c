FROM scratch AS s
ADD --keep-git-dir=true --link https://github.com/moby/buildkit.git#v0.13.2 /src
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/a.tar.gz /a
COPY --exclude=*.md --exclude=docs/ --parents ["a b", "c", "/d/"]
ADD git@github.com:moby/buildkit.git /g
