# zcomplete.zsh FPATH_DIR LINE OUT: the matches zsh's completion system offers for LINE
# (completed at its end), one a line, appended to OUT. A zsh in a pseudo-terminal (zsh/zpty)
# loads compinit with FPATH_DIR first on its fpath; compadd is wrapped so that each call
# records the matches it adds (compadd -O), then adds them; LINE and a TAB are typed; the line
# is erased and a marker printed, which ends the wait. Run by complete.py (zsh -f).
zmodload zsh/zpty || exit 2
dir=$1 line=$2 out=$3
zpty z zsh -f -i || exit 2
zpty -w z "PS1='ZP''ROMPT> '; fpath=(${(q)dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd() { local -a m; builtin compadd -O m "$@"; print -rl -- $m >>'${(q)out}'; builtin compadd "$@" }'
# The markers are written quoted, so that the echo of the command does not match. Typing
# waits for the prompt after READY: zle reads it then, in raw mode (typed earlier, the
# terminal's line discipline would take the TAB and the ^U).
zpty -w z "print -r -- RE''ADY"
zpty -r z junk '*READY*' || exit 3
zpty -r z junk '*ZPROMPT> ' || exit 3
zpty -w -n z "$line"$'\t'
zpty -w -n z $'\C-u'
zpty -w z "print -r -- DO''NE"
zpty -r z junk '*DONE*' || exit 4
zpty -d z
exit 0
