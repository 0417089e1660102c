FROM scratch
ENV E= S=set
ENV a=${E:-d1} b=${E-d2} c=${S:+alt} d=${E:+alt} e=${NOPE+x} f=${E+x}
ENV g=${S#s} h=${S%t} i=$S$S j=\$S k='$S' l="$S" m=${S}x
