# bash completion for intent-bus: commands, admin commands and flags.
# They are read from the program's own --help each time, so completion
# cannot drift from what the installed binary accepts.

# The words of "intent-bus ARGS --help" that name a command: the first word
# of every indented line (the help lists each command that way).
_intent_bus_commands()
{
    "$@" --help 2>/dev/null | awk '/^  [a-z]/ && !/^  -/ {print $1}'
}

_intent_bus_flags()
{
    "$@" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

_intent_bus()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local prog=${COMP_WORDS[0]} command=${COMP_WORDS[1]}
    local IFS=$'\n'
    COMPREPLY=()
    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "$(_intent_bus_commands "$prog")"$'\n'"--help"$'\n'"--version" -- "$cur"))
        return
    fi
    if [[ $command == admin ]] && ((COMP_CWORD == 2)); then
        COMPREPLY=($(compgen -W "$("$prog" admin --help 2>/dev/null |
            awk '/^commands:/ {on = 1; next} /^$/ {on = 0} on && /^  [a-z]/ {print $1}')" -- "$cur"))
        return
    fi
    case $prev in
    --db | --tls-cert | --tls-key)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    esac
    if [[ $cur == -* ]]; then
        local words=("$command")
        [[ $command == admin ]] && words+=("${COMP_WORDS[2]}")
        COMPREPLY=($(compgen -W "$(_intent_bus_flags "$prog" "${words[@]}")" -- "$cur"))
        return
    fi
    case $command in
    backup) COMPREPLY=($(compgen -f -- "$cur")) ;;
    bench) ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W $'light\nmedium\nheavy\nextreme' -- "$cur")) ;;
    esac
}

complete -F _intent_bus intent-bus
